"""Bearer tokens → principals and roles, from a file that stores only token hashes.

The file (YAML):

    four_eyes: true            # an approver may not approve their own request
    principals:
      - name: alice
        role: operator
        token_sha256: 5e88489...   # `quarterdeck token hash` prints this for a token

Roles are ordered: viewer < operator < approver < admin. A route names the lowest role it needs.
Tokens are compared by SHA-256 digest in constant time; the plain token is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import IntEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class Role(IntEnum):
    VIEWER = 1  # read health, proposals, audit
    OPERATOR = 2  # + chat, action requests, dry-runs
    APPROVER = 3  # + approve / reject proposals
    ADMIN = 4  # + loop control

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            known = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"unknown role {text!r} (known: {known})") from None


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return self.role >= needed


class _PrincipalEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: str
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @field_validator("role")
    @classmethod
    def _known_role(cls, v: str) -> str:
        Role.parse(v)
        return v


class _AuthFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    four_eyes: bool = False
    principals: list[_PrincipalEntry] = Field(default_factory=list)


class AuthConfigError(ValueError):
    """The auth file is unreadable or invalid; the message names the file and the problem."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


class Authenticator:
    """Maps a bearer token to a Principal; `None` for an unknown token."""

    def __init__(self, entries: dict[str, Principal], *, four_eyes: bool = False) -> None:
        self._by_hash = entries
        self.four_eyes = four_eyes

    @classmethod
    def from_tokens(cls, tokens: dict[str, Principal], *, four_eyes: bool = False) -> Authenticator:
        """For embedded use and tests: plain tokens, hashed on the way in."""
        return cls({hash_token(t): p for t, p in tokens.items()}, four_eyes=four_eyes)

    @classmethod
    def load(cls, path: Path) -> Authenticator:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise AuthConfigError(f"{path}: cannot read: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise AuthConfigError(f"{path}: not valid YAML: {e}") from e
        try:
            parsed = _AuthFile.model_validate(raw or {})
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise AuthConfigError(f"{path}: {where}: {first['msg']}") from e
        entries: dict[str, Principal] = {}
        for i, p in enumerate(parsed.principals):
            if p.token_sha256 in entries:
                raise AuthConfigError(f"{path}: principals[{i}]: token hash used twice")
            entries[p.token_sha256] = Principal(name=p.name, role=Role.parse(p.role))
        return cls(entries, four_eyes=parsed.four_eyes)

    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        found: Principal | None = None
        # Compare against every entry so timing does not reveal which prefix matched.
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found
