"""The Slack channel: `SlackSender` (outbox → chat.postMessage, within budgets) and
`SlackInbound` (slash command, buttons, App Home through slack-bolt).

The code lives in `slack_send` and `slack_inbound`; this module is the one
import the composition root needs. Set-up and behaviour: docs/slack.md.
"""

from bot.adapters.slack_inbound import HomeDataSource, SlackInbound, SlackStartError
from bot.adapters.slack_send import SlackBudget, SlackPacer, SlackSender, map_slack_error

__all__ = ["HomeDataSource", "SlackBudget", "SlackInbound", "SlackPacer", "SlackSender", "SlackStartError",
           "map_slack_error"]
