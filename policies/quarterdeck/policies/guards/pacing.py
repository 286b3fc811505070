"""Guards about *when*: per-service cooldowns, rate limits, and change-freeze windows.

Cooldowns and rate limits count applied actions (the guard's own records plus the context's
history); freeze windows read the context's timezone-aware wall-clock time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from quarterdeck.policies.rules import Evaluation, Finding, Rule, RuleInfo
from quarterdeck.policies.schema import WEEKDAYS, Cooldown, Freeze, FreezeWindow, RateLimit


class CooldownRule(Rule):
    def __init__(self, info: RuleInfo, cfg: Cooldown) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        now, kind = ev.context.now, ev.action.kind
        recent = [
            a
            for a in ev.history
            if now - a.at < self.cfg.period and (not self.cfg.per_kind or a.kind == kind)
        ]
        if not recent:
            return []
        last = max(recent, key=lambda a: a.at)
        wait = self.cfg.period - (now - last.at)
        what = f"a {kind}" if self.cfg.per_kind else "an action"
        return [
            self.finding(
                self.cfg.effect,
                f"cooldown: {what} was applied to {ev.proposal.target} {now - last.at:g}s ago "
                f"(cooldown {self.cfg.period:g}s, {wait:g}s left)",
                {
                    "last_applied_at": last.at,
                    "last_proposal_id": last.proposal_id,
                    "period_s": self.cfg.period,
                    "now": now,
                },
            )
        ]


class RateLimitRule(Rule):
    def __init__(self, info: RuleInfo, cfg: RateLimit) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        now = ev.context.now
        count = sum(1 for a in ev.history if now - a.at < self.cfg.window)
        if count < self.cfg.max_actions:
            return []
        return [
            self.finding(
                self.cfg.effect,
                f"rate limit: {count} actions applied to {ev.proposal.target} in the last "
                f"{self.cfg.window:g}s (limit {self.cfg.max_actions})",
                {"count": count, "max_actions": self.cfg.max_actions, "window_s": self.cfg.window},
            )
        ]


class FreezeRule(Rule):
    def __init__(self, info: RuleInfo, cfg: Freeze) -> None:
        super().__init__(info, cfg.match)
        self.cfg = cfg

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        wall = ev.context.wall_clock
        for window in self.cfg.windows:
            if in_window(window, wall):
                local = wall.astimezone(ZoneInfo(window.timezone))
                return [
                    self.finding(
                        self.cfg.effect,
                        f"change freeze {window.name!r} is in effect "
                        f"({local:%a %H:%M} {window.timezone}; {describe(window)})",
                        {
                            "window": window.name,
                            "local_time": local.isoformat(),
                            "timezone": window.timezone,
                        },
                    )
                ]
        return []


def in_window(window: FreezeWindow, instant: datetime) -> bool:
    """Is the aware datetime `instant` inside `window`? Recurring windows compare local wall-clock
    times in the window's zone, so "17:00" stays 17:00 across DST changes."""
    zone = ZoneInfo(window.timezone)
    if window.from_ is not None and window.until is not None:
        begins = window.from_ if window.from_.tzinfo else window.from_.replace(tzinfo=zone)
        ends = window.until if window.until.tzinfo else window.until.replace(tzinfo=zone)
        return begins <= instant < ends
    if window.start is None or window.end is None:
        return False
    local = instant.astimezone(zone)
    days = window.days or WEEKDAYS
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local - timedelta(days=1)).weekday()]
    t = local.time().replace(tzinfo=None)
    start, end = window.start, window.end
    if start == end:  # the whole day
        return today in days
    if start < end:
        return today in days and start <= t < end
    # wraps past midnight: started today in the evening, or yesterday and not yet over
    return (today in days and t >= start) or (yesterday in days and t < end)


def describe(window: FreezeWindow) -> str:
    if window.from_ is not None:
        until = window.until.isoformat() if window.until else "?"
        return f"from {window.from_.isoformat()} until {until}"
    days = ",".join(window.days) if window.days else "every day"
    start = window.start.strftime("%H:%M") if window.start else "?"
    end = window.end.strftime("%H:%M") if window.end else "?"
    return f"{days} {start}–{end}"
