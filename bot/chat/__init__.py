"""Inbound chat commands, platform-neutral. Adapters (Telegram, Slack) map
their updates to a ChatContext and call a CommandRouter."""
