"""HTTP controllers (OAuth callbacks)."""

from . import google, microsoft
