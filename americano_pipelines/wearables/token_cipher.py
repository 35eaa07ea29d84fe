"""OAuth tokens encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256, from cryptography).

The key is AMERICANO_TOKEN_KEY, or, when that is unset, a key generated once into
`AMERICANO_HOME/token.key` (mode 0600, created exclusively so two processes never write two
keys). Neither the key nor a token is ever logged or printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from americano_pipelines.config import Settings
from americano_pipelines.errors import InputError

__all__ = ["TokenCipher", "token_cipher"]


class TokenCipher:
    """Encrypts and decrypts token text with one key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise InputError(
                "AMERICANO_TOKEN_KEY: not a Fernet key (32 url-safe base64-encoded bytes; "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'` makes one)",
                field="AMERICANO_TOKEN_KEY",
            ) from None

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, data: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(data)).decode("utf-8")
        except InvalidToken:
            raise InputError(
                "AMERICANO_TOKEN_KEY: the stored wearable tokens were encrypted with another "
                "key; restore that key or connect again (americano wearables connect)",
                field="AMERICANO_TOKEN_KEY",
            ) from None

    def __repr__(self) -> str:  # never the key
        return "TokenCipher(<key>)"


def _generated_key(path: Path) -> bytes:
    """The key in `path`, generated there first (mode 0600) when the file does not exist."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole beside it, then linked into place: link fails when the file exists, so a
    # reader never sees half a key and two processes never keep two.
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(Fernet.generate_key())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes().strip()


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher of AMERICANO_TOKEN_KEY, or of the key generated into AMERICANO_HOME."""
    if settings.token_key:
        return TokenCipher(settings.token_key.encode("ascii", "replace"))
    return TokenCipher(_generated_key(settings.token_key_path))
