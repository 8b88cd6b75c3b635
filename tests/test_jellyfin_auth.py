"""Signing in to Jellyfin and Emby (the plugin's ``crosswatch auth`` flows) against the emulator.

By password (both servers), by Quick Connect (Jellyfin: the code is approved through the
emulator's control route, as a person would in another client), and by API key for a
user picked by name or id. The token lands in a 0600 file in the 0700 state folder, is
never said, logged or written into the file for an API key, and the sign-in state hook
answers from that file. A refused sign-in says why in one line and writes nothing.
"""

from __future__ import annotations

import io
import stat
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import crosswatch_jellyfin
from crosswatch.emulation.server import serve_app
from crosswatch.errors import ProviderError
from crosswatch.http import SignInError
from crosswatch.logging import redact
from crosswatch.model import Feature
from crosswatch.provider import AuthContext, ProviderContext
from crosswatch.state import StateDir
from crosswatch_jellyfin.emulator import EMBY, JELLYFIN, Flavour
from crosswatch_jellyfin.emulator.library import leaves
from tests.test_jellyfin_env import (
    FLAVOURS,
    flows,
    kind_of,
    make_emulator,
    password_env,
    settings_for,
    sign_in_by_password,
    specs,
)

pytestmark = pytest.mark.anyio


def signin_file(state: StateDir, flavour: Flavour, profile: str = "default") -> Path:
    prefix = flavour.name if profile == "default" else f"{flavour.name}-{profile}"
    return state.path / f"{prefix}.signin.json"


def read_file(path: Path) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(path.read_text())
    return data


def played_by(emu: Any, user_id: str) -> set[str]:
    """Ids of the movies and episodes a user has played (what a history read lists)."""
    lib = emu.library
    return {
        lib.ids[i] for i, d in emu.state.data[user_id].items() if d.played and lib.media[i] in set(leaves(lib.media[i]))
    }


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_sign_in_by_password_keeps_the_token_private(
    flavour: Flavour, tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    emu = make_emulator(flavour)
    kind = kind_of(flavour)
    async with serve_app(emu) as url:
        state = StateDir(tmp_path)
        settings = settings_for(url, emu)
        said = await sign_in_by_password(kind, settings, state, emu.password)
        path = signin_file(state, flavour)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(state.path.stat().st_mode) == 0o700
        saved = read_file(path)
        token = saved["access_token"]
        device = emu.accounts.devices[token]
        assert (
            device.user_id == emu.user_id and device.device_id == saved["device_id"] and device.client == "crosswatch"
        )
        assert saved["method"] == "password" and saved["user_name"] == emu.username and saved["url"] == url
        assert saved["server_id"] == emu.server_id and saved["server_name"] == emu.server_name
        assert said == [
            f"Signed in to {emu.server_name} ({kind.title} {flavour.version}) as {emu.username} by password; "
            f"kept in .cw_state/{path.name}"
        ]

        state_hook = crosswatch_jellyfin.crosswatch_sign_in_state(
            section=flavour.name, profile="default", state=state, settings=None
        )
        assert state_hook is not None and state_hook.signed_in and state_hook.expires_at is None
        assert state_hook.detail == f"{emu.username} on {emu.server_name}, by password"
        assert (
            crosswatch_jellyfin.crosswatch_sign_in_state(section="plex", profile="default", state=state, settings=None)
            is None
        )

        # the provider works with it, and nothing it logs or says shows the token
        # (a refused request first, so that a retry is logged)
        emu.faults.control("POST", [{"method": "GET", "path": f"/Users/{emu.user_id}/Views", "status": 503}])
        retrying = settings_for(url, emu, max_retries=1)
        provider = specs()[kind.provider].factory(ProviderContext(kind.provider, "default", retrying, state))
        try:
            assert await provider.read(Feature.HISTORY)
        finally:
            await provider.aclose()
        assert [e["status"] for e in logs if e["event"] == "http.retry"] == [503]
        assert token not in redact(f"Authorization: Token={token}")
        assert token not in repr(logs) and not any(token in line for line in said)

        # signing in again replaces the token on the server (same device), and the file
        await sign_in_by_password(kind, settings, state, emu.password)
        again = read_file(path)
        assert again["device_id"] == saved["device_id"] and again["access_token"] != token
        assert token not in emu.accounts.devices and again["access_token"] in emu.accounts.devices


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_wrong_password_is_refused_and_nothing_is_kept(flavour: Flavour, tmp_path: Path) -> None:
    emu = make_emulator(flavour)
    kind = kind_of(flavour)
    async with serve_app(emu) as url:
        state = StateDir(tmp_path)
        with pytest.raises(
            ProviderError, match=rf"^{kind.title} at {url} refused user '{emu.username}' with that password$"
        ):
            await sign_in_by_password(kind, settings_for(url, emu), state, "not-the-password")
        assert not signin_file(state, flavour).exists()
        nobody = crosswatch_jellyfin.crosswatch_sign_in_state(
            section=flavour.name, profile="kids", state=state, settings=None
        )
        assert nobody is not None and not nobody.signed_in
        assert nobody.detail == f"not signed in: run `crosswatch auth {flavour.name} --profile kids`"
        with pytest.raises(ProviderError, match=r"names no user to sign in as"):
            await sign_in_by_password(kind, settings_for(url, emu, user=""), state, emu.password)


async def test_quick_connect_signs_in_once_the_code_is_entered(tmp_path: Path, no_terminal: None) -> None:
    emu = make_emulator(JELLYFIN)
    kind = kind_of(JELLYFIN)
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as control:
        state = StateDir(tmp_path)
        settings = settings_for(url, emu)
        said: list[str] = []
        code_shown = anyio.Event()

        def say(text: str) -> None:
            said.append(text)
            if text.startswith("Quick Connect code: "):
                code_shown.set()

        async def enter_code() -> None:
            with anyio.fail_after(30):
                await code_shown.wait()
            code = said[0].split("\n")[0].removeprefix("Quick Connect code: ")
            assert len(code) == 6 and code.isdigit()
            reply = await control.post("/_emulator/approve", json={"code": code, "user": emu.username})
            assert reply.json() == {"approved": [code]}

        with password_env(kind, None):
            async with anyio.create_task_group() as tg:
                tg.start_soon(enter_code)
                with anyio.fail_after(30):
                    await flows()["jellyfin"](AuthContext("default", settings, state, say))
        saved = read_file(signin_file(state, JELLYFIN))
        assert saved["method"] == "quick_connect" and saved["user_id"] == emu.user_id
        assert emu.accounts.devices[saved["access_token"]].device_id == saved["device_id"]
        assert said[-1].endswith("by Quick Connect; kept in .cw_state/jellyfin.signin.json")
        assert not any(saved["access_token"] in line for line in said)
        hook = crosswatch_jellyfin.crosswatch_sign_in_state(
            section="jellyfin", profile="default", state=state, settings=None
        )
        assert hook is not None and hook.detail.endswith("by Quick Connect")


async def test_quick_connect_entered_by_another_user_is_refused(tmp_path: Path, no_terminal: None) -> None:
    emu = make_emulator(JELLYFIN)
    other = emu.accounts.users[1]
    async with serve_app(emu) as url, httpx.AsyncClient(base_url=url) as control:
        state = StateDir(tmp_path)
        shown = anyio.Event()

        async def approve() -> None:
            with anyio.fail_after(30):
                await shown.wait()
            await control.post("/_emulator/approve", json={"user": other.name})

        failure: ProviderError | None = None
        with password_env(kind_of(JELLYFIN), None):
            async with anyio.create_task_group() as tg:
                tg.start_soon(approve)
                ctx = AuthContext("default", settings_for(url, emu), state, lambda _: shown.set())
                try:
                    await flows()["jellyfin"](ctx)
                except ProviderError as exc:
                    failure = exc
        assert str(failure) == (
            f"the Quick Connect code was entered by '{other.name}', but [jellyfin] names '{emu.username}': "
            "enter it signed in as that user"
        )
        assert not signin_file(state, JELLYFIN).exists()
        assert not [d for d in emu.accounts.devices.values() if d.user_id == other.id]  # its token was signed out


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_without_a_password_or_quick_connect_the_person_is_told_what_to_set(
    flavour: Flavour, tmp_path: Path, no_terminal: None
) -> None:
    emu = make_emulator(flavour, quick_connect=False)
    kind = kind_of(flavour)
    async with serve_app(emu) as url:
        with password_env(kind, None), pytest.raises(ProviderError, match=rf"set {kind.password_env}"):
            await flows()[kind.section](AuthContext("default", settings_for(url, emu), StateDir(tmp_path), print))


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_an_api_key_acts_for_the_user_named_by_name_or_id(flavour: Flavour, tmp_path: Path) -> None:
    emu = make_emulator(flavour)
    kind = kind_of(flavour)
    other = emu.accounts.users[1]
    async with serve_app(emu) as url:
        # picked by name: the sign-in file names the user, the key stays in the config
        state = StateDir(tmp_path / "by-name")
        settings = settings_for(url, emu, api_key=emu.api_key, user=other.name)
        said: list[str] = []
        await flows()[kind.section](AuthContext("default", settings, state, said.append))
        path = signin_file(state, flavour)
        assert emu.api_key not in path.read_text()
        saved = read_file(path)
        assert (saved["method"], saved["user_id"], saved["access_token"]) == ("api_key", other.id, "")
        assert said[-1].endswith("with the API key; kept in .cw_state/" + path.name)
        provider = specs()[kind.provider].factory(ProviderContext(kind.provider, "default", settings, state))
        try:
            history = await provider.read(Feature.HISTORY)
        finally:
            await provider.aclose()
        assert {i.extra["Id"] for i in history} == played_by(emu, other.id) != played_by(emu, emu.user_id)

        # picked by id, without any sign-in: the provider uses the key straight away
        by_id = settings_for(url, emu, api_key=emu.api_key, user="", user_id=other.id.upper())
        provider = specs()[kind.provider].factory(
            ProviderContext(kind.provider, "default", by_id, StateDir(tmp_path / "none"))
        )
        try:
            assert {i.extra["Id"] for i in await provider.read(Feature.HISTORY)} == played_by(emu, other.id)
        finally:
            await provider.aclose()

        refused = StateDir(tmp_path / "refused")
        with pytest.raises(ProviderError, match=r"does not accept the api_key"):
            bad = settings_for(url, emu, api_key="0" * 32)
            await flows()[kind.section](AuthContext("default", bad, refused, print))
        with pytest.raises(ProviderError, match=r"names no user: with an api_key, set user"):
            nobody = settings_for(url, emu, api_key=emu.api_key, user="")
            await flows()[kind.section](AuthContext("default", nobody, refused, print))
        with pytest.raises(ProviderError, match=r"has no user 'zed' \(its users: "):
            await flows()[kind.section](
                AuthContext("default", settings_for(url, emu, api_key=emu.api_key, user="zed"), refused, print)
            )
        assert not signin_file(refused, flavour).exists()


@pytest.mark.parametrize("flavour", [EMBY])
async def test_a_profile_whose_config_names_another_user_is_told_to_sign_in_again(
    flavour: Flavour, tmp_path: Path
) -> None:
    emu = make_emulator(flavour)
    kind = kind_of(flavour)
    async with serve_app(emu) as url:
        state = StateDir(tmp_path)
        await sign_in_by_password(kind, settings_for(url, emu), state, emu.password)
        other = emu.accounts.users[1].name
        provider = specs()[kind.provider].factory(
            ProviderContext(kind.provider, "default", settings_for(url, emu, user=other), state)
        )
        try:
            with pytest.raises(
                SignInError,
                match=rf"signed in as '{emu.username}', but the config's user is '{other}': run `crosswatch auth emby`",
            ):
                await provider.read(Feature.RATINGS)
        finally:
            await provider.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_two_profiles_are_two_users_with_files_of_their_own(flavour: Flavour, tmp_path: Path) -> None:
    emu = make_emulator(flavour)
    kind = kind_of(flavour)
    other = emu.accounts.users[1]
    async with serve_app(emu) as url:
        state = StateDir(tmp_path)
        profiles = {"default": settings_for(url, emu), "kids": settings_for(url, emu, user=other.name)}
        await sign_in_by_password(kind, profiles["default"], state, emu.password)
        await sign_in_by_password(kind, profiles["kids"], state, other.password, profile="kids")
        seen = {}
        for profile, settings in profiles.items():
            provider = specs()[kind.provider].factory(ProviderContext(kind.provider, profile, settings, state))
            try:
                seen[profile] = {i.extra["Id"] for i in await provider.read(Feature.HISTORY)}
            finally:
                await provider.aclose()
        assert seen == {"default": played_by(emu, emu.user_id), "kids": played_by(emu, other.id)}
        names = {p.name for p in state.path.iterdir() if not p.name.endswith(".lock")}
        prefix = flavour.name
        assert {f"{prefix}.signin.json", f"{prefix}-kids.signin.json"} <= names
        assert {f"{prefix}_library.json", f"{prefix}-kids_library.json"} <= names
        assert read_file(signin_file(state, flavour, "kids"))["user_id"] == other.id
        hook = crosswatch_jellyfin.crosswatch_sign_in_state(
            section=flavour.name, profile="kids", state=state, settings=None
        )
        assert hook is not None and hook.detail.startswith(f"{other.name} on ")
