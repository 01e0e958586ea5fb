"""The word lists of story clustering (bot/core/cluster_text.py reads them). Our own, and short.

- ``STOP_WORDS``: English and Russian words that say nothing about an event;
- ``NUMBER_WORDS`` and multipliers ("five" = 5, "6 тысяч" = 6000);
- ``CONCEPTS_TEXT``: the bilingual map of common news words — each line a
  concept, its English words / its Russian words; words are looked up by
  Snowball stem (and as written); "a_b" is a two-word phrase;
- ``KINDS``: what kind of event a concept tells of (two reports that name kinds
  but none in common tell different events).

Data only: no code beyond building these constants.
"""

from __future__ import annotations

STOP_WORDS = frozenset("""
a an the and or but nor of to in on at by for from with without into onto over under about after
before since until during between among against through near off out up down as is are was were be
been being has have had do does did will would shall should can could may might must not no yes it
its this that these those there here he she they them his her their our we you your i me my who whom
which what when where why how than then so also just very more most some any all both each other
such only own same too said says say told according new one while if per
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было
вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас
нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем
была сам чтобы без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой
совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех никогда можно при
наконец два об другой хоть после над больше тот через эти нас про всего них какая много разве три
эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно
всю между это также которые который которая которых году года сообщил сообщили заявил заявила
сообщает еще ещё около более
""".split())
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "two three four five six seven eight nine ten eleven twelve".split(), start=2)}
NUMBER_WORDS.update({w: n for n, ws in (
    ("2", "два две двух двум двумя"), ("3", "три трех трёх трем тремя"),
    ("4", "четыре четырех четырёх"), ("5", "пять пяти пятью"), ("6", "шесть шести"),
    ("7", "семь семи"), ("8", "восемь восьми"), ("9", "девять девяти"),
    ("10", "десять десяти"), ("1000", "тысяча тысячи тысяч thousand"),
    ("1000000", "million миллион миллиона миллионов")) for w in ws.split()})
MULTIPLIERS = {"тысяча": 1000, "тысячи": 1000, "тысяч": 1000, "тыс": 1000, "thousand": 1000,
                "million": 10**6, "миллион": 10**6, "миллиона": 10**6, "миллионов": 10**6, "млн": 10**6}

# Our own short map of common news words. Each line: concept, English words / Russian words.
# Words are looked up by Snowball stem (and as written); "a_b" is a two-word phrase.
MONTHS = ("january february march april may june july august september october november december",
          "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь")
WEEKDAYS = ("monday tuesday wednesday thursday friday saturday sunday",
            "понедельник вторник среда четверг пятница суббота воскресенье")
CONCEPTS_TEXT = "".join(f"m{n}: {en} / {ru}\n" for n, (en, ru) in enumerate(
    zip(*(m.split() for m in MONTHS)), start=1)) + "".join(f"{en[:3]}: {en} / {ru}\n" for en, ru in zip(
        *(d.split() for d in WEEKDAYS))) + """\
fri: / пятничный
tj: tajikistan tajik tajiks tajikistani / таджикистан таджикский таджик таджики таджикистанский
af: afghanistan afghan afghans / афганистан афганский афганец афганцы
ru: russia russian russians / россия российский русский рф
kg: kyrgyzstan kyrgyz kirghiz / киргизия кыргызстан киргизский кыргызский
uz: uzbekistan uzbek uzbeks / узбекистан узбекский узбек
kz: kazakhstan kazakh / казахстан казахский
tm: turkmenistan turkmen / туркмения туркменистан туркменский
pk: pakistan pakistani / пакистан пакистанский
cn: china chinese / китай китайский
ir: iran iranian / иран иранский
us: america american americans / сша америка американский
ua: ukraine ukrainian / украина украинский
by: belarus belarusian / белоруссия беларусь белорусский
am: armenia armenian / армения армянский
tr: turkey turkish / турция турецкий
eu: eu european / евросоюз европейский ес
un: un united_nations / оон
csto: csto / одкб
sco: sco / шос
cis: cis / снг
isis: isis isil daesh islamic_state / игил иг исламское_государство
taliban: taliban / талибан талибы талиб
moscow: moscow / москва московский
capital: capital / столица столичный
drill: drill drills exercise exercises manoeuvres maneuvers wargames / учения учение маневры
range: range training_ground training_centre training_center firing_range / полигон
troops: troops soldiers servicemen military army personnel forces units / военные военнослужащие войска солдаты армия силы подразделения
base: base garrison / база гарнизон
joint: joint combined / совместный
start: start begin began launch kick_off / начать начаться стартовать запустить
open: open opened reopen reopens resume resumed / открыть открыться возобновить
border: border frontier border_guard border_guards / граница пограничный приграничный пограничник
guard: guard guards border_guard border_guards / пограничник охрана охранник
kill: kill killed dead die died death deaths toll / погибнуть погибли убить убиты гибель смерть ликвидировать погибший
wound: wounded injured hurt injuries casualties / ранить ранены раненый пострадать пострадавший травмы
blast: explosion blast bomb bombing explode exploded explosive / взрыв взорвать бомба взрывной взрывное
attack: attack attacked assault attackers / нападение напасть атака атаковать теракт
gunmen: gunmen militants fighters insurgents / боевики боевик
shoot: shoot shot shooting gunfire gunfight shootout / стрельба перестрелка обстрел стрелять
clash: clash clashes skirmish / столкновение бой
fire: fire blaze / пожар возгорание огонь
firefighter: firefighters / пожарный
mosque: mosque / мечеть
prayer: prayer prayers worshippers / молитва намаз верующие
police: police policeman / полиция полицейский милиция
checkpoint: checkpoint / блокпост кпп
arrest: arrest arrested detain detained / задержать арестовать задержан
suspect: suspect suspects / подозреваемый
drugs: drug drugs narcotics smuggler smugglers smuggling trafficker traffickers / наркотики контрабанда контрабандист наркокурьер наркотрафик
heroin: heroin / героин
seize: seize seized confiscate / изъять конфисковать
hostage: hostage hostages / заложник
terror: terrorist terrorism terror / террорист терроризм террористический
threat: threat threats danger risk / угроза опасность риск
security: security / безопасность
commando: commando commandos special_forces / спецназ спецподразделение
drone: drone drones uav unmanned / беспилотник бпла дрон
missile: missile missiles rocket / ракета ракетный
weapon: weapon weapons arms / оружие вооружение
plane: plane aircraft airliner jet / самолет лайнер
flight: flight / рейс полет
airport: airport airfield / аэропорт аэродром
runway: runway / впп взлетно
landing: landing / посадка приземлиться
engine: engine engines / двигатель
passenger: passenger passengers / пассажир
crew: crew / экипаж
crash: crash wreck / крушение авария катастрофа
quake: earthquake quake tremor tremors / землетрясение толчки подземный
magnitude: magnitude / магнитуда
flood: flood floods flooding / наводнение паводок подтопление
mudflow: mudflow mudflows mudslide landslide / сель оползень
rain: rain rains downpour downpours / дождь ливень ливни осадки
house: house houses home homes building buildings / дом здание жилой
village: village villages / село деревня кишлак поселок
evacuate: evacuate evacuated evacuation / эвакуировать эвакуированы эвакуация
rescue: rescue rescuers / спасатели спасение спасти
emergency: emergency emergencies / чрезвычайный мчс кчс
damage: damage damaged destroy destroyed / повредить повреждены разрушить уничтожить ущерб
warehouse: warehouse / склад
market: market bazaar / рынок базар
trade: trade traders merchants trading / торговля торговый торговец купец
visa: visa visas / виза
bridge: bridge / мост
railway: railway railroad rail / железнодорожный железная_дорога
road: road highway / дорога трасса автодорога шоссе
deal: agreement deal accord treaty protocol / соглашение договор протокол сделка
sign: sign signed / подписать
meeting: meeting talks summit session consultations / встреча переговоры саммит заседание совещание консультации
minister: minister / министр
ministry: ministry / министерство ведомство
foreign_ministry: foreign_ministry foreign_ministers / мид
defence: defence defense / оборона минобороны
president: president presidential / президент
government: government cabinet / правительство
envoy: envoy representative / спецпредставитель представитель посланник
consulate: consulate consul / консульство генконсульство консул генконсул
embassy: embassy / посольство
ambassador: ambassador / посол
court: court / суд
supreme: supreme / верховный
ban: ban banned bar barred prohibit / запрет запретить запрещать
lift: lift suspend suspended / снять приостановить приостановка отменить
list: list / список
women: women woman / женщины женщина
salon: salon salons parlour parlours / салон
beauty: beauty / красота
close: close closed shut closure / закрыть закрытие
month: month / месяц
rate: rate rates / ставка
bank: bank / банк нацбанк
central: central / центральный
national: national / национальный нацбанк
inflation: inflation / инфляция инфляционный
cut: cut lower lowered reduce / снизить понизить снижение
hike: raise raised hike increase / повысить повышение
unchanged: unchanged steady / сохранить оставить
percent: percent per_cent / процент
economy: economy economic / экономика экономический
price: price prices / цена
oil: oil petroleum / нефть нефтепродукты
gas: gas / газ
power: electricity power energy / электроэнергия электричество энергия
plant: plant station / станция электростанция
hydro: hydropower hydroelectric / гэс гидроэлектростанция
turbine: turbine / агрегат гидроагрегат турбина
dam: dam / плотина
capacity: capacity / мощность
construction: construction build / строительство стройка строить
water: water / вода водозабор
river: river / река
grain: grain wheat flour / зерно пшеница мука
fuel: fuel / топливо
cattle: livestock cattle / скот
election: election elections / выборы
vote: vote voting / голосование
parliament: parliament / парламент
protest: protest protesters rally / протест митинг
opposition: opposition / оппозиция
match: match game / матч игра
beat: beat win victory won / обыграть победить победа
qualifier: qualifier qualifying / отбор отборочный
goal: goal scored / гол забить
cup: cup world_cup / кубок чемпионат_мира чм
team: team squad / сборная команда
score: score / счет
anniversary: anniversary / годовщина юбилей
parade: parade / парад
veteran: veteran veterans / ветеран
report: report / доклад отчет
estimate: estimate estimates / оценить оценка
sanction: sanction sanctions / санкция
family: family families relatives / семья родственники
investigation: investigation probe / расследование следствие
prison: prison jail sentenced / тюрьма приговор
migrant: migrant migrants / мигрант
refugee: refugee refugees / беженец
aid: aid / помощь
school: school / школа
hospital: hospital / больница
children: children child / дети ребенок
district: district / район
region: region province / область регион провинция
valley: valley / долина
mountain: mountain mountains / гора горный
lake: lake / озеро
shore: shore / берег
exclave: exclave enclave / эксклав анклав
km: km kilometre kilometres kilometer kilometers / км километр
kg: kg kilogram kilograms / кг килограмм
"""

# What kind of event a concept tells of. Two reports that both name a kind but no kind in
# common (an earthquake and a mudflow in one region) tell different events.
KINDS_TEXT = """
quake magnitude
flood mudflow rain
fire firefighter
blast attack gunmen shoot clash
plane flight airport runway landing passenger crew
drill range
election vote
protest
arrest suspect court prison investigation
match beat qualifier goal cup score
rate inflation cut hike
hydro turbine dam
drugs heroin
"""
KINDS = {"~" + c: 1 << bit for bit, line in enumerate(KINDS_TEXT.strip().splitlines()) for c in line.split()}
