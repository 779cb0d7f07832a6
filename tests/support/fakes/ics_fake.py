#!/usr/bin/python3
"""An ICS calendar feed (text/calendar, RFC 5545) for examples/calendar.toml.

Usage: ics_fake.py DIR (conventions: tests/support/fakes/fakelib.py).

GET /<anything>.ics answers the calendar named in control.json {"calendar": "v1"} as
`text/calendar; charset=utf-8` with an ETag (hash of the body) and a Last-Modified; a request
whose If-None-Match holds that ETag (or, without If-None-Match, whose If-Modified-Since is not
older than Last-Modified) gets 304 Not Modified. {"calendar": "status 503"} answers that status.
Lines are CRLF-terminated and folded at 75 octets (RFC 5545 3.1), some continuations with a TAB;
a VTIMEZONE precedes the events.

The calendars (what tests/integration/jobs_test.cpp expects):
  v1  standup@bulkhead.test   "Daily stand-up"        DTSTART;TZID=Europe/Berlin:20261207T093000
      holiday@bulkhead.test   "Office closed"         DTSTART;VALUE=DATE:20261224 (all day, 3 days)
      review@bulkhead.test    a long SUMMARY folded over three lines, with \\, escapes, in UTC
  v2  standup changed (10:00, "Daily stand-up (moved)", SEQUENCE:1, new LAST-MODIFIED);
      retro@bulkhead.test added ("Retro — Café Müller", TZID=America/New_York); the others as in v1
  v3  v2 again, but every DTSTAMP is new (a server that stamps each export: nothing changed)

requests.log: {"t", "path", "inm", "ims", "status", "calendar"}
"""
import hashlib
from email.utils import parsedate_to_datetime

import fakelib

REVIEW_SUMMARY = ("Quarterly review of the board support package\\, the watchdog\\, the store and the "
                  "delivery pipeline for the field units")
VTIMEZONES = [
    "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
    "BEGIN:DAYLIGHT", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "DTSTART:19700329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
    "BEGIN:STANDARD", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "DTSTART:19701025T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "END:VTIMEZONE",
    "BEGIN:VTIMEZONE", "TZID:America/New_York",
    "BEGIN:STANDARD", "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "TZNAME:EST", "DTSTART:19701101T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU", "END:STANDARD",
    "END:VTIMEZONE",
]


def events(stamp, version):
    standup = ["UID:standup@bulkhead.test", "DTSTAMP:" + stamp,
               "DTSTART;TZID=Europe/Berlin:20261207T093000", "DTEND;TZID=Europe/Berlin:20261207T094500",
               "SUMMARY:Daily stand-up", "LOCATION:Room 4.01\\, Berlin",
               "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "SEQUENCE:0", "LAST-MODIFIED:20261130T120000Z"]
    if version >= 2:
        standup = ["UID:standup@bulkhead.test", "DTSTAMP:" + stamp,
                   "DTSTART;TZID=Europe/Berlin:20261207T100000", "DTEND;TZID=Europe/Berlin:20261207T101500",
                   "SUMMARY:Daily stand-up (moved)", "LOCATION:Room 4.01\\, Berlin",
                   "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "SEQUENCE:1", "LAST-MODIFIED:20261203T091500Z"]
    holiday = ["UID:holiday@bulkhead.test", "DTSTAMP:" + stamp, "DTSTART;VALUE=DATE:20261224",
               "DTEND;VALUE=DATE:20261227", "SUMMARY:Office closed", "TRANSP:TRANSPARENT",
               "LAST-MODIFIED:20261101T080000Z"]
    review = ["UID:review@bulkhead.test", "DTSTAMP:" + stamp, "DTSTART:20261210T140000Z",
              "DTEND:20261210T153000Z", "SUMMARY:" + REVIEW_SUMMARY,
              "DESCRIPTION:Agenda:\\n1. Figures for the quarter\\n2. Field reports from the units in the north"
              "\\n3. Questions\\; all welcome",
              "LOCATION:Video call", "LAST-MODIFIED:20261120T100000Z"]
    out = [standup, holiday, review]
    if version >= 2:
        out.append(["UID:retro@bulkhead.test", "DTSTAMP:" + stamp,
                    "DTSTART;TZID=America/New_York:20261211T160000",
                    "DTEND;TZID=America/New_York:20261211T170000", "SUMMARY:Retro — Café Müller",
                    "LOCATION:Café Müller\\, 5th Avenue", "LAST-MODIFIED:20261203T091600Z"])
    return out


def fold(line, folds):
    """RFC 5545 3.1: lines longer than 75 octets are split, the continuation starting with one
    space (or, for every second fold here, a TAB); never inside a UTF-8 sequence. `folds` counts
    the folds made so far in the calendar."""
    out, cur = [], ""
    for ch in line:
        if len((cur + ch).encode()) > 75:
            out.append(cur)
            folds[0] += 1
            cur = "\t" if folds[0] % 2 == 0 else " "
        cur += ch
    out.append(cur)
    return out


CALENDARS = {
    "v1": ("20261201T080000Z", 1, "Mon, 30 Nov 2026 12:00:00 GMT"),
    "v2": ("20261201T080000Z", 2, "Thu, 03 Dec 2026 09:15:00 GMT"),
    "v3": ("20261204T080000Z", 2, "Fri, 04 Dec 2026 08:00:00 GMT"),
}


def calendar(name):
    stamp, version, last_modified = CALENDARS[name]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bulkhead tests//ics fake//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", "X-WR-CALNAME:Team", "X-WR-TIMEZONE:Europe/Berlin"] + VTIMEZONES
    for ev in events(stamp, version):
        lines += ["BEGIN:VEVENT"] + ev + ["END:VEVENT"]
    lines.append("END:VCALENDAR")
    folded, folds = [], [0]
    for line in lines:
        folded += fold(line, folds)
    return ("\r\n".join(folded) + "\r\n").encode(), last_modified


class Ics(fakelib.Handler):
    def do_GET(self):
        with self.fake.lock:
            control, _ = self.fake.reload()
            name = control.get("calendar", "v1")
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            entry = {"path": self.path, "inm": inm, "ims": ims, "calendar": name}
            if name.startswith("status "):
                entry["status"] = int(name.split()[1])
                self.fake.log(**entry)
                self.answer(entry["status"], "scripted failure\n", "text/plain")
                return
            body, last_modified = calendar(name)
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            validators = [("ETag", etag), ("Last-Modified", last_modified), ("Cache-Control", "private, max-age=0")]
            fresh = False
            if inm is not None:
                fresh = etag in [v.strip() for v in inm.split(",")] or inm.strip() == "*"
            elif ims is not None:
                try:
                    fresh = parsedate_to_datetime(ims) >= parsedate_to_datetime(last_modified)
                except (TypeError, ValueError):
                    fresh = False
            entry["status"] = 304 if fresh else 200
            self.fake.log(**entry)
            if fresh:
                self.answer(304, b"", headers=validators)
            else:
                self.answer(200, body, "text/calendar; charset=utf-8", validators)


if __name__ == "__main__":
    fakelib.serve_http(Ics)
