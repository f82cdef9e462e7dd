"""Transient models: the compose dialog's routing line, Cc and Bcc."""

from . import mail_compose_message
