"""Weather agents: agents in the user's own code, served next to the built-in ones.

From the repository's root (the module is imported from the working directory)::

    netra-trio serve --agents examples.weather_agents:AGENTS

then ``start_agent`` with ``{"agent": "forecast", "input": "Lisbon tomorrow?"}``
(or ``"input": {"city": "Oslo", "day": "today"}``). A follow-up without a city
("and tomorrow?") on the same thread uses the city of the conversation.

``agents_from_environment`` is the other form of an ``--agents`` entry: a
function, called once at start, that returns the mapping; here it makes the
same agent in the units that ``WEATHER_UNITS`` names::

    WEATHER_UNITS=F netra-trio serve --agents examples.weather_agents:agents_from_environment

The forecasts are a local table, so the example needs no network and no model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from netra_trio.agents import Agent, AgentFailure, AgentResult, MessageRecord, RunContext

FORECASTS: dict[str, dict[str, dict[str, Any]]] = {
    "lisbon": {
        "today": {"sky": "sunny", "low_c": 16, "high_c": 24, "rain_mm": 0},
        "tomorrow": {"sky": "cloudy", "low_c": 15, "high_c": 21, "rain_mm": 1},
    },
    "oslo": {
        "today": {"sky": "snow showers", "low_c": -6, "high_c": -1, "rain_mm": 4},
        "tomorrow": {"sky": "clear", "low_c": -9, "high_c": -3, "rain_mm": 0},
    },
    "nairobi": {
        "today": {"sky": "thunderstorms", "low_c": 14, "high_c": 25, "rain_mm": 12},
        "tomorrow": {"sky": "partly cloudy", "low_c": 13, "high_c": 26, "rain_mm": 2},
    },
}
DAYS = ("today", "tomorrow")


def lookup_forecast(city: str, day: str) -> dict[str, Any]:
    """The tool: the forecast for ``city`` on ``day`` (KeyError for a city or
    a day that the table does not have)."""
    try:
        return {"city": city.title(), "day": day, **FORECASTS[city.lower()][day]}
    except KeyError:
        raise KeyError(f"no forecast for {city!r} {day}") from None


class Forecaster:
    """The forecast agent, in ``units`` (``"C"`` or ``"F"``)."""

    def __init__(self, units: str = "C") -> None:
        if units not in ("C", "F"):
            raise ValueError(f"units must be C or F, got {units!r}")
        self.units = units

    async def __call__(self, ctx: RunContext) -> AgentResult:
        name = ctx.agent_name
        city, day = _request(ctx.input, ctx.input_text)
        if city is None:
            city = _city_of_the_conversation(ctx.history)
            if city is None:
                raise AgentFailure("NO_CITY", f"which city? I know {_known_cities()}")
            await ctx.emit.thinking(name, f"no city in the request: the thread is about {city}")
        await ctx.emit.thinking(name, f"looking up the forecast for {city}, {day}")
        outcome = await ctx.emit.tool_call(
            name, "lookup_forecast", {"city": city, "day": day}, lambda: lookup_forecast(city, day)
        )
        if not outcome.ok:  # (its tool_completed has status "error" and the reason)
            raise AgentFailure(
                "NO_FORECAST",
                f"no forecast for {city} {day}: I know {_known_cities()}, {' and '.join(DAYS)}",
            )
        forecast: dict[str, Any] = outcome.value
        answer = ""
        for part in self._sentence(forecast):
            answer += part
            await ctx.emit.output(name, part)  # streamed; the client joins the deltas
        return AgentResult(
            result={"text": answer, "units": self.units, "forecast": forecast},
            report=answer,  # the assistant's message in the thread
        )

    def _sentence(self, forecast: dict[str, Any]) -> list[str]:
        low, high = (self._degrees(forecast[key]) for key in ("low_c", "high_c"))
        rain = forecast["rain_mm"]
        parts = [
            f"{forecast['city']} {forecast['day']}: {forecast['sky']}, ",
            f"{low} to {high} °{self.units}, ",
            f"{rain} mm of rain." if rain else "no rain.",
        ]
        if rain >= 2:
            parts.append(" Take an umbrella.")
        return parts

    def _degrees(self, celsius: int) -> int:
        return celsius if self.units == "C" else round(celsius * 9 / 5 + 32)


AGENTS: dict[str, Agent] = {"forecast": Forecaster()}


def agents_from_environment() -> dict[str, Agent]:
    """The factory form: ``local_forecast`` in the units of ``WEATHER_UNITS``
    (``C``, the default, or ``F``); a wrong value stops the server's start."""
    return {"local_forecast": Forecaster(os.environ.get("WEATHER_UNITS", "C"))}


def _request(value: Any, text: str) -> tuple[str | None, str]:
    """The city and the day that the input asks about: an object's ``city``
    and ``day``, or the words of a text."""
    if isinstance(value, Mapping):
        city = value.get("city")
        return (str(city) if city else None), str(value.get("day", "today"))
    words = text.lower()
    day = "tomorrow" if "tomorrow" in words else "today"
    return next((city.title() for city in FORECASTS if city in words), None), day


def _city_of_the_conversation(history: Sequence[MessageRecord]) -> str | None:
    """The city that the latest message of the thread naming one names."""
    for message in reversed(history):
        city, _ = _request(None, message.content)
        if city is not None:
            return city
    return None


def _known_cities() -> str:
    names = [city.title() for city in FORECASTS]
    return ", ".join(names[:-1]) + " or " + names[-1]
