"""newsbot: a self-hosted news-alert bot.

Feeds in, watchlists matched, Smart Brevity briefs out to Telegram, Slack and
the console. See README.md and docs/ for the user's view, DESIGN in README's
"Design notes" for the developer's.
"""

__version__ = "0.1.0"
USER_AGENT = f"newsbot/{__version__} (+https://github.com/newsbot/newsbot; self-hosted feed reader)"
