"""The Kalshi API key that signs the WebSocket handshake: the configured one, or a development key.

Kalshi authenticates the WebSocket handshake with an API key: an id (``KALSHI-ACCESS-KEY``) and an
RSA private key that signs each request (see :func:`streaming.venues.kalshi.auth_headers`; source:
https://docs.kalshi.com/getting_started/api_keys). Kalshi issues the private key as an unencrypted PEM
file, which ticklake reads from ``settings.kalshi_private_key_path`` with the id
``settings.kalshi_api_key_id``.

Without a configured key, ticklake uses a **development key**: an RSA-2048 key generated once under
the state folder (``<state_dir>/kalshi-dev-key.pem``, mode 0600) with the id ``"ticklake-dev"``. The
simulator runs with the same settings and trusts exactly the public half of the key this module
resolves, so a collector and the simulator sharing a state folder authenticate out of the box. The
file is created atomically (written aside, then hard-linked into place, which fails if it exists):
processes starting together agree on one key.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ticklake.errors import ConfigError
from ticklake.settings import ENV_PREFIX, Settings

DEV_KEY_ID = "ticklake-dev"
"""The API key id of the development key."""

DEV_KEY_FILE = "kalshi-dev-key.pem"
"""The development key's file name in the state folder."""

DEV_KEY_BITS = 2048
"""The development key's size (Kalshi's keys are RSA-2048)."""


def resolve_key(settings: Settings) -> tuple[str, bytes]:
    """The Kalshi API key to sign with: the configured one, else the development key.

    Args:
        settings: ``kalshi_api_key_id``, ``kalshi_private_key_path`` and ``state_dir`` are used.

    Returns:
        The key id and the RSA private key in PEM.

    Raises:
        ConfigError: Only one of the key id and the key file is set, or the key file cannot be read or
            is not an unencrypted RSA private key in PEM.
    """
    key_id = settings.kalshi_api_key_id
    path = settings.kalshi_private_key_path
    if path is None and key_id is None:
        return DEV_KEY_ID, development_key(settings.state_path / DEV_KEY_FILE)
    if path is None or not key_id:
        raise ConfigError(
            f"{ENV_PREFIX}KALSHI_API_KEY_ID and {ENV_PREFIX}KALSHI_PRIVATE_KEY_PATH go together: set both "
            "(a Kalshi API key) or neither (the development key)"
        )
    return key_id, _read_key(path.expanduser(), f"{ENV_PREFIX}KALSHI_PRIVATE_KEY_PATH")


def development_key(path: Path) -> bytes:
    """The development private key at ``path``, generated (once, atomically, mode 0600) if missing.

    Args:
        path: Where the key lives.

    Returns:
        The RSA private key in PEM.

    Raises:
        ConfigError: The file exists but is not an RSA private key, or cannot be read or created.
    """
    if not path.exists():
        try:
            _create_once(path, generate_private_key())
        except OSError as error:
            raise ConfigError(f"cannot create the Kalshi development key {path}: {error}") from None
    return _read_key(path, "the Kalshi development key")


def generate_private_key() -> bytes:
    """A new RSA-2048 private key in PEM (PKCS#1, unencrypted, as Kalshi issues them)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=DEV_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def public_key_pem(private_key_pem: bytes) -> bytes:
    """The public half of an RSA private key, in PEM (SubjectPublicKeyInfo).

    Args:
        private_key_pem: An unencrypted RSA private key in PEM.

    Returns:
        The public key in PEM.

    Raises:
        ValueError: Not an unencrypted RSA private key in PEM.
    """
    return (
        _load_private(private_key_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _load_private(pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"not an unencrypted private key in PEM: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"the key is {type(key).__name__}, not RSA")
    return key


def _read_key(path: Path, what: str) -> bytes:
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {what} ({path}): {error}") from None
    try:
        _load_private(pem)
    except ValueError as error:
        raise ConfigError(f"{what} ({path}) is not a usable Kalshi private key: {error}") from None
    return pem


def _create_once(path: Path, content: bytes) -> None:
    """Create ``path`` with ``content`` (mode 0600) unless it exists; never expose a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its key wins
            os.link(aside, path)
    finally:
        aside.unlink(missing_ok=True)
