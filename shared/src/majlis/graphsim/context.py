"""The simulator's composition: one object holding config, state and collaborators per app."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiohttp import web

from majlis.graphsim.config import SimulatorConfig
from majlis.graphsim.errors import bad_token, no_such_object
from majlis.graphsim.media import MediaStore
from majlis.graphsim.state import Clock, Number, SimState
from majlis.graphsim.templates import TemplateStore
from majlis.graphsim.webhooks import WebhookDispatcher


@dataclass
class Simulator:
    """Everything the request handlers of one simulator share."""

    config: SimulatorConfig
    clock: Clock
    rng: random.Random
    state: SimState
    templates: TemplateStore
    media: MediaStore
    webhooks: WebhookDispatcher


SIMULATOR: web.AppKey[Simulator] = web.AppKey("graphsim", Simulator)


def simulator(request: web.Request) -> Simulator:
    """The simulator serving this request."""
    return request.app[SIMULATOR]


def bearer_token(request: web.Request) -> str:
    """The request's bearer token if it is valid for anything; else a 401 code 190."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise bad_token()
    if not simulator(request).state.is_token_known(token):
        raise bad_token()
    return token


def authorize_number(request: web.Request, phone_number_id: str, method: str) -> Number:
    """The number named in the path, if the request's token may act for it."""
    state = simulator(request).state
    token = bearer_token(request)
    number = state.number(phone_number_id)
    if number is None or not state.may_use_number(number, token):
        raise no_such_object(phone_number_id, method)
    return number


def authorize_waba(request: web.Request, waba_id: str, method: str) -> None:
    """Check that the request's token may manage the WABA named in the path."""
    state = simulator(request).state
    if not state.may_use_waba(waba_id, bearer_token(request)):
        raise no_such_object(waba_id, method)
