"""Cron schedules with upstream (robfig/cron ``ParseStandard``) semantics, pure.

Five fields - minute hour day-of-month month day-of-week - each ``*``, ``?``,
numbers, ranges ``a-b``, steps ``*/n`` / ``a-b/n`` / ``a/n``, lists, and names
(``JAN``-``DEC``, ``SUN``-``SAT``; 7 is Sunday too); or a descriptor
(``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``/``@midnight``,
``@hourly``). When both day fields are restricted a day matches if *either*
does; if one is ``*`` both must (Vixie cron's rule).

``Schedule.next(t)`` is the first matching minute strictly after ``t``.
Worked example: ``*/15 9-17 * * MON-FRI`` after Friday 17:50 is Monday 09:00.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from skiff.errors import Invalid

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}


def _value(tok: str, names: dict[str, int]) -> int:
    up = tok.upper()
    if up in names:
        return names[up]
    if not tok.isdigit():
        raise Invalid.field("spec.schedule", f"failed to parse int from {tok}")
    return int(tok)


def _field(expr: str, lo: int, hi: int, names: dict[str, int] | None = None) -> tuple[set[int],
                                                                                       bool]:
    """(allowed values, was it a star)."""
    names = names or {}
    out: set[int] = set()
    star = False
    for part in expr.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step <= 0:
            raise Invalid.field("spec.schedule", f"step of range should be a positive number: "
                                f"{part}")
        if rng in ("*", "?"):
            a, b = lo, hi
            star = star or not step_s
        elif "-" in rng:
            x, y = rng.split("-", 1)
            a, b = _value(x, names), _value(y, names)
        else:
            a = _value(rng, names)
            b = hi if step_s else a
        if a < lo or b > hi or a > b:
            raise Invalid.field("spec.schedule", f"value out of range ({lo}-{hi}): {part}")
        out.update(range(a, b + 1, step))
    return out, star


@dataclass
class Schedule:
    minutes: set[int]
    hours: set[int]
    dom: set[int]
    months: set[int]
    dow: set[int]
    dom_star: bool
    dow_star: bool
    tz: datetime.tzinfo = datetime.UTC

    def _day_ok(self, d: datetime.datetime) -> bool:
        dom_ok = d.day in self.dom
        dow_ok = (d.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next(self, after: float) -> float:
        """First matching minute strictly after ``after`` (Unix seconds)."""
        t = datetime.datetime.fromtimestamp(after, self.tz).replace(second=0, microsecond=0)
        t += datetime.timedelta(minutes=1)
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + datetime.timedelta(days=32)).replace(
                    day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + datetime.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + datetime.timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += datetime.timedelta(minutes=1)
                continue
            return t.timestamp()
        raise Invalid.field("spec.schedule", "schedule never fires")

    def last_missed(self, since: float, until: float) -> tuple[float | None, int]:
        """(most recent scheduled time in (since, until], how many (capped at 101))."""
        count = len(self.prev_times(since, until))
        if count == 0:
            return None, 0
        for window in (3600.0, 86400.0, 32 * 86400.0, 366 * 86400.0, 5 * 366 * 86400.0):
            start = max(since, until - window)
            last = None
            t = start
            while True:
                t = self.next(t)
                if t > until:
                    break
                last = t
            if last is not None:
                return last, count
        return None, count

    def prev_times(self, since: float, until: float, cap: int = 100) -> list[float]:
        """Scheduled times in (since, until], at most ``cap`` + 1 (to detect "too many")."""
        out: list[float] = []
        t = since
        while True:
            t = self.next(t)
            if t > until:
                return out
            out.append(t)
            if len(out) > cap:
                return out


def parse(schedule: str, time_zone: str | None = None) -> Schedule:
    s = schedule.strip()
    if s.startswith(("TZ=", "CRON_TZ=")):
        raise Invalid.field("spec.schedule", "cannot use TZ or CRON_TZ in schedule, use "
                            "timeZone field instead")
    s = _DESCRIPTORS.get(s, s)
    parts = s.split()
    if len(parts) != 5:
        raise Invalid.field("spec.schedule", f"expected exactly 5 fields, found "
                            f"{len(parts)}: {schedule}")
    minutes, _ = _field(parts[0], 0, 59)
    hours, _ = _field(parts[1], 0, 23)
    dom, dom_star = _field(parts[2], 1, 31)
    months, _ = _field(parts[3], 1, 12, _MONTHS)
    dow, dow_star = _field(parts[4], 0, 7, _DAYS)
    if 7 in dow:
        dow = (dow - {7}) | {0}
    tz: datetime.tzinfo = ZoneInfo(time_zone) if time_zone else datetime.UTC
    return Schedule(minutes, hours, dom, months, dow, dom_star, dow_star, tz)
