"""hackbot: a Discord bot that runs a hackathon from inside the chat."""

__version__ = "0.1.0"
