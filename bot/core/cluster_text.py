"""Words of a news text as story clustering sees them (bot/core/cluster.py builds on this).

Each word is folded (Cyrillic transliterated to Latin, diacritics dropped,
spelling variants merged: kh→h, zh/dzh→j, sh→s, y→i, doubled letters once,
hyphens joined), so "Kharb-Maidon", "Kharbmaidon" and "Харбмайдон" all become
``harbmaidon``, and gets a *key*, which is what two reports of one event
share even across English and Russian:

- a *concept* from a short bilingual map of common news words (``CONCEPTS``:
  "drills", "exercise", "учения" → ``~drill``; "Tajik", "Таджикистана" →
  ``~tj``), looked up by Snowball stem, single words and a few two-word
  phrases ("training ground" = "полигон");
- else the word's stem (Snowball English or Russian, by script), folded;
  Russian adjectives of places lose their suffix ("Раштской" → ``rast``);
- numbers as written ("1,500" = "1500", "5,3" = "5.3", "five" = "5", "6
  тысяч" = "6000") and dates ("April 7" = "7 April" = "7 апреля").

*Names* are capitalised words that do not start a sentence, and acronyms
(in a Title Case headline only acronyms), unless the map knows them (common
countries and organisations are concepts, so that "Tajik" and the lower-case
Russian "таджикские" agree). A name's key is its consonant skeleton
("Darvoz" = "Darvaz").

What it does not do: translate (words outside the map match across
languages only when their transliterations agree), lemmatise with a
dictionary, or know which words are names beyond capitals and the map.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

_CYR = ("а a б b в v г g д d е e ё e ж zh з z и i й y к k л l м m н n о o п p р r с s т t "
        "у u ф f х kh ц ts ч ch ш sh щ shch ъ _ ы y ь _ э e ю yu я ya і i ї yi є ye ґ g "
        "ғ gh ӣ i қ q ӯ u ҳ h ҷ j ә a ө o ү u ң ng ұ u һ h ў u")
_pairs = _CYR.split()
CYRILLIC_TO_LATIN = str.maketrans({c: ("" if v == "_" else v) for c, v in zip(_pairs[::2], _pairs[1::2])})
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
_MULTIPLIERS = {"тысяча": 1000, "тысячи": 1000, "тысяч": 1000, "тыс": 1000, "thousand": 1000,
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

_EN_STEM = snowballstemmer.stemmer("english").stemWord
_RU_STEM = snowballstemmer.stemmer("russian").stemWord
_RU_ADJ_PLACE = re.compile(r"ск(?:ий|ая|ое|ие|ого|ой|ом|им|ую|их|ими|ому)$")
_RU_NAME_CASE = re.compile(r"(?:ами|ом|ем|ым|им|ам|ах|ях)$")


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


@lru_cache(maxsize=100_000)
def _stem(low: str) -> str:
    """The Snowball stem of a lower-case word in its script's language (English or Russian)."""
    if _is_cyrillic(low):
        low = low.replace("ё", "е")
        root = _RU_STEM(low)
        if _RU_ADJ_PLACE.search(low) and root.endswith("ск") and len(root) >= 6:
            root = root[:-2]                    # раштской → рашт, хатлонская → хатлон
        return root
    return _EN_STEM(low)


def _name_root(low: str) -> str:
    """A name without its Russian case ending (vowel endings vanish in the skeleton anyway)."""
    if not _is_cyrillic(low):
        return low
    adjective = _RU_ADJ_PLACE.search(low)
    if adjective and adjective.start() >= 3:
        return low[:adjective.start()]          # Раштской → рашт, Шамсиддин-Шохинском → …шохин
    case = _RU_NAME_CASE.search(low)
    return low[:case.start()] if case and case.start() >= 4 else low


def _build_concepts() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], tuple[str, ...]]]:
    words: dict[str, list[str]] = {}
    pairs: dict[tuple[str, str], list[str]] = {}
    for line in CONCEPTS_TEXT.strip().splitlines():
        concept, _, rest = line.partition(":")
        for word in rest.replace("/", " ").split():
            if "_" in word:
                a, b = word.split("_", 1)
                pairs.setdefault((_stem(a), _stem(b)), []).append("~" + concept)
            else:
                for form in {word, _stem(word)}:
                    words.setdefault(form, []).append("~" + concept)
    return ({w: tuple(dict.fromkeys(c)) for w, c in words.items()},
            {p: tuple(dict.fromkeys(c)) for p, c in pairs.items()})


CONCEPTS, CONCEPT_PAIRS = _build_concepts()

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’ʼ-][^\W\d_]+)*", re.UNICODE)
_TERMINAL = re.compile(r"[.!?…]")
_VOWELS = str.maketrans("", "", "aeiouy")
_FOLDS = (("shch", "s"), ("dzh", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"),
          ("sh", "s"), ("ch", "c"), ("ph", "f"), ("ck", "k"), ("q", "k"),
          ("w", "v"), ("x", "ks"), ("y", "i"), ("j", "j"))
_DOUBLE = re.compile(r"(.)\1+")
_POSSESSIVE = ("'s", "’s", "ʼs")
_APOSTROPHE_HYPHEN = re.compile(r"['’ʼ-]")
_FINAL_VOWELS = frozenset("aeiouyаеёиоуыэюяйь")


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower-case, transliterate, drop diacritics and merge spelling variants."""
    text = word.lower().translate(CYRILLIC_TO_LATIN)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))
    text = text.replace("-", "").replace("'", "").replace("’", "").replace("ʼ", "")
    for old, new in _FOLDS:
        if old in text:
            text = text.replace(old, new)
    return _DOUBLE.sub(r"\1", text)


def skeleton(folded: str) -> str:
    """First letter plus consonants: 'darvoz' and 'darvaz' both give 'drvz'."""
    return folded[:1] + folded[1:].translate(_VOWELS)


def _number(token: str) -> str:
    if "," in token and "." not in token:
        head, _, tail = token.rpartition(",")
        # "1,500" is a thousands separator; "5,3" a decimal comma
        token = token.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    return token.replace(",", "")


class Token(NamedTuple):
    """One word or number of a text (stop words are not tokens)."""

    folded: str                 # the folded word, or the number as digits
    is_name: bool               # capitalised (see tokens()), whether or not the map knows it
    is_number: bool
    keys: tuple[str, ...] = ()  # concepts, or the folded stem; () for numbers and short words
    root: str = ""              # the folded word without a Russian case ending, for a name's skeleton
    known: bool = False         # in the concept map: a concept, not a name, for clustering
    month: int = 0              # 1-12 for a month's name


class _Word(NamedTuple):
    folded: str
    keys: tuple[str, ...]
    root: str
    known: bool                 # every part is in the concept map: never a name for clustering
    stem: str                   # unfolded stem, for two-word phrases
    month: int


@lru_cache(maxsize=100_000)
def _word(low: str, name: bool) -> _Word:
    """What clustering keeps of a lower-case word (cached: most words of news recur).

    A name (see tokens()) is not given to Snowball, which is slow for a word seen the first
    time and most first-seen words are names: its concept is looked up as written or without
    one or two final letters ("Таджикистана"), its key is its root without a final vowel.
    """
    for tail in _POSSESSIVE:
        if low.endswith(tail):
            low = low[:-2]
    parts = [p for p in _APOSTROPHE_HYPHEN.split(low) if p] if not low.isalpha() else [low]
    keys: list[str] = []
    known = 0
    for part in parts:
        if name:
            root = _name_root(part)
            concepts = (CONCEPTS.get(part) or CONCEPTS.get(root) or CONCEPTS.get(part[:-1])
                        or CONCEPTS.get(part[:-2]))
            stem = root[:-1] if len(root) >= 5 and root[-1] in _FINAL_VOWELS else root
        else:
            stem = _stem(part)
            concepts = CONCEPTS.get(stem) or CONCEPTS.get(part)
        if concepts:
            keys.extend(concepts)
            known += 1
        elif len(part) >= 3 and part not in STOP_WORDS:
            keys.append(fold(stem))
    month = next((int(k[2:]) for k in keys if k[:2] == "~m" and k[2:].isdigit()), 0)
    return _Word(fold(low), tuple(dict.fromkeys(keys)), fold(_name_root(low)),
                 bool(parts) and known == len(parts), low if name else _stem(low), month)


def tokens(text: str, *, title_case: bool = False) -> list[Token]:
    """Words and numbers of `text`, folded, stop words dropped, names and numbers marked.

    A name is a capitalised word that does not start a sentence, or an
    acronym; in a Title Case headline only acronyms count. Words of the
    concept map are marked ``known``: clustering counts them as concepts.
    """
    out: list[Token] = []
    prev_end = 0
    stems: list[str] = []
    new = tuple.__new__
    for m in _WORD.finditer(text):
        raw = m.group()
        start = m.start()
        if prev_end == 0:
            starts = True
        else:
            gap = text[prev_end:start]
            starts = "." in gap or "!" in gap or "?" in gap or "…" in gap
        prev_end = m.end()
        if raw[0].isdigit():
            out.append(new(Token, (_number(raw), False, True, (), "", False, 0)))
            stems.append("")
            continue
        low = raw.lower()
        if low in STOP_WORDS:
            continue
        if low in _MULTIPLIERS and out and out[-1].is_number and stems[-1] == "":
            value = float(out[-1].folded) * _MULTIPLIERS[low]
            out[-1] = Token(f"{value:.0f}" if value.is_integer() else str(value), False, True)
            stems[-1] = "#"
            continue
        if low in NUMBER_WORDS:
            out.append(new(Token, (NUMBER_WORDS[low], False, True, (), "", False, 0)))
            stems.append("#")
            continue
        name = (raw[0].isupper() and not starts and not title_case) or (len(raw) > 1 and raw.isupper())
        w = _word(low, name)
        if stems:
            pair = CONCEPT_PAIRS.get((stems[-1], w.stem))
            if pair:                            # "training ground": one concept for both words
                prev = out[-1]
                out[-1] = Token(prev.folded, prev.is_name, False, pair, prev.root, True)
                stems[-1] = ""
                continue
        out.append(new(Token, (w.folded, name, False, w.keys, w.root, w.known, w.month)))
        stems.append(w.stem)
    return out


def dates(toks: list[Token]) -> set[str]:
    """Day and month mentioned together: "April 7", "7 April", "7 апреля" → "4-7"."""
    out = set()
    for i, t in enumerate(toks):
        month = t.month
        if not month:
            continue
        for j in (i - 1, i + 1, i + 2):
            if 0 <= j < len(toks) and toks[j].is_number and toks[j].folded.isdigit():
                if 1 <= int(toks[j].folded) <= 31:
                    out.add(f"{month}-{int(toks[j].folded)}")
                    break
    return out


def is_title_case(text: str) -> bool:
    words = [w for w in _WORD.findall(text[:200]) if w[0].isalpha() and len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) > 0.6
