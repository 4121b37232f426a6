#!/usr/bin/env python3
"""Checks the built book in a real browser: headless Chromium.

    python3 tests/browser/check.py [BOOK]     # BOOK: the built book, ./book by default
    python3 tests/browser/check.py --self-test

Serves BOOK on 127.0.0.1 and opens every HTML page of it in headless Chromium, in a 1280x900
window (mdBook shows its sidebar at that width) and in a 400x900 one (a phone). A probe script
(probe.js), which the server puts at the start of each page's <head>, notes errors and measures
the page once it has loaded; Chromium dumps the DOM with the probe's findings in it. Prints one
line per problem, "page: what", and exits with 1 if there is any:

- a console error, an uncaught error or promise rejection, a file that fails to load (the
  server's 404s, by the page or stylesheet that asked), an image that does not load;
- a link to a file of the book that does not exist, or to an anchor the target page lacks
  (links out of the book are counted, not followed: the check needs no network);
- at 1280 px, a console transcript line that does not fit in one row of its block, or a page
  with room for fewer transcript columns than the Rust tests let a line have (BOOK_WIDTH, in
  tests/transcript/markdown.rs);
- a transcript whose text on the page, or copied from it, is not the text in the page's file
  (transcript.js only adds markup);
- at either width, a transcript block that scrolls sideways or covers the sidebar or the
  previous/next arrows, or anything that sticks out of the page's content area (at 400 px,
  the introduction's table, for one).

It also prints how many transcript columns fit in each view.

--self-test runs the same check on tests/browser/fixture/, pages with planted problems (and one
without), and succeeds only if the check finds each planted problem and nothing else.

Standard library only. Chromium is looked for as $CHROMIUM, then chromium, chromium-browser,
google-chrome. Every Chromium run is killed after RUN_TIMEOUT seconds and reported as a hang.
"""

import argparse
import concurrent.futures
import html
import html.parser
import http.server
import json
import mimetypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROBE = (HERE / "probe.js").read_text(encoding="utf-8")
REPORT = re.compile(r'<pre[^>]*\bid="browser-check-report"[^>]*>(.*?)</pre>', re.S)

# (name, width, height): the width the transcripts must fit at, and a phone's. A headless Chromium
# window is at least 500 px wide, so the narrow view is a 400 px frame in a page of the check's
# own (FRAME), drawn, like a phone's, without scrollbars.
WIDE = ("1280x900", 1280, 900)
NARROW = ("400x900", 400, 900)
FRAME = "/__browser-check__/frame.html"
PROBE_URL = "/__browser-check__/probe.js"
RUN_TIMEOUT = 60  # seconds, wall clock, for one Chromium run
VIRTUAL_TIME = 10000  # milliseconds of the page's own (virtual) time before the DOM is dumped
BROWSERS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
# The Rust tests hold transcript lines to this many characters, the width the theme promises at
# 1280 px (BOOK_WIDTH); the check makes sure the theme keeps the promise.
WIDTH_PROMISE = ("tests/transcript/markdown.rs", re.compile(r"\bconst BOOK_WIDTH: usize = (\d+);"))

# The fixture's planted problems: (page, words the problem's line holds).
PLANTED = [
    ("overflow.html", "transcript line of 191 characters does not fit in one row"),
    ("overflow.html", "MainProcess      [ 0.00s] this line is far too long"),
    ("errors.html", "console error: planted console error"),
    ("errors.html", "Uncaught Error: planted uncaught error (/errors.html:"),
    ("errors.html", "failed to load <img> /missing.png"),
    ("errors.html", "broken link to /no-such-page.html: no such file"),
    ("errors.html", "broken link to /index.html#no-such-anchor: index.html has no such anchor"),
    ("narrow.html", "at 400x900, the content area scrolls sideways"),
    ("narrow.html", "at 400x900, <table> \"AntidisestablishmentarianismFloccinaucin"),
]


class Site:
    """The files the server serves: URL prefixes mounted on directories, longest prefix first."""

    def __init__(self, mounts):
        self.mounts = sorted(((prefix, Path(root).resolve()) for prefix, root in mounts),
                             key=lambda mount: -len(mount[0]))
        self.requests = []  # (path, status, referer)
        self.lock = threading.Lock()
        self._anchors = {}

    def file_for(self, url_path):
        path = urllib.parse.unquote(url_path)
        for prefix, root in self.mounts:
            if path.startswith(prefix):
                candidate = (root / path[len(prefix):]).resolve()
                if candidate != root and root not in candidate.parents:
                    return None
                if candidate.is_dir():
                    candidate = candidate / "index.html"
                return candidate if candidate.is_file() else None
        return None

    def pages(self):
        """The URL path of every HTML page under the mounts."""
        found = []
        for prefix, root in self.mounts:
            for page in sorted(root.rglob("*.html")):
                found.append(prefix + page.relative_to(root).as_posix())
        return found

    def anchors(self, file):
        if file not in self._anchors:
            collector = AnchorCollector()
            collector.feed(file.read_text(encoding="utf-8", errors="replace"))
            self._anchors[file] = collector.names
        return self._anchors[file]

    def transcripts(self, file):
        """The text of each console transcript in an HTML file, as the file holds it."""
        blocks = re.findall(r'<code class="language-console">(.*?)</code>',
                            file.read_text(encoding="utf-8"), re.S)
        return [html.unescape(re.sub(r"<[^>]*>", "", block)) for block in blocks]

    def record(self, path, status, referer):
        with self.lock:
            self.requests.append((path, status, referer))


class AnchorCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.names = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (name == "name" and tag == "a")):
                self.names.add(value)


def frame_page(query):
    """A page that shows another in a frame of the given size and passes on its probe's report."""
    fields = urllib.parse.parse_qs(query)
    page, width, height = fields["page"][0], int(fields["width"][0]), int(fields["height"][0])
    return ("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s at %dx%d</title>
<style>body { margin: 0; } iframe { display: block; border: 0; }</style></head>
<body><iframe src="%s" width="%d" height="%d"></iframe>
<script>
window.addEventListener("message", function (event) {
    if (event.origin === location.origin && typeof event.data.browserCheckReport === "string") {
        const out = document.createElement("pre");
        out.id = "browser-check-report";
        out.hidden = true;
        out.textContent = event.data.browserCheckReport;
        document.body.append(out);
    }
});
</script></body></html>
""" % (html.escape(page), width, height, html.escape(page), width, height)).encode("utf-8")


def make_handler(site):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urllib.parse.urlsplit(self.path)
            path = parts.path
            if path == FRAME:
                self.send(frame_page(parts.query), "text/html; charset=utf-8")
                return
            if path == PROBE_URL:
                self.send(PROBE.encode("utf-8"), "text/javascript; charset=utf-8")
                return
            file = site.file_for(path)
            referer = self.headers.get("Referer", "")
            if file is None:
                site.record(path, 404, referer)
                self.send_error(404)
                return
            body = file.read_bytes()
            if file.suffix == ".html":
                body = inject_probe(body)
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind == "application/javascript":
                kind += "; charset=utf-8"
            site.record(path, 200, referer)
            self.send(body, kind)

        def send(self, body, kind):
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def inject_probe(page):
    # A script of its own, loaded before anything else on the page runs, on the <head> tag's
    # line: the page's line numbers, which error messages give, stay the file's.
    script = b'<script src="' + PROBE_URL.encode("ascii") + b'"></script>'
    head = re.search(rb"<head\b[^>]*>", page, re.I)
    at = head.end() if head else 0
    return page[:at] + script + page[at:]


def find_browser():
    for name in ([os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else []) + BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(browser, origin, page, view, profile):
    """The probe's report on the page, from the DOM Chromium dumps, or (None, why) if none."""
    _, width, height = view
    url = origin + page
    window = "--window-size=%d,%d" % (width, height)
    if view == NARROW:
        url = origin + FRAME + "?" + urllib.parse.urlencode(
            {"page": page, "width": width, "height": height})
        window = "--window-size=%d,%d" % (max(width, 600), height + 100)
    command = [
        browser, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--mute-audio", "--user-data-dir=" + profile,
        window, "--virtual-time-budget=%d" % VIRTUAL_TIME, "--dump-dom", url,
    ]
    if view == NARROW:
        command.insert(1, "--hide-scrollbars")
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, "Chromium did not finish within %d s (killed)" % RUN_TIMEOUT
    if process.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return None, "Chromium exited with status %d: %s" % (process.returncode, last[0])
    match = REPORT.search(out.decode("utf-8", "replace"))
    if match is None:
        return None, "no report from the probe (the page never finished loading?)"
    return json.loads(html.unescape(match.group(1))), None


def relative(url, origin):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme + "://" + parts.netloc != origin:
        return url
    return parts.path + ("#" + parts.fragment if parts.fragment else "")


class Findings:
    def __init__(self):
        self.problems = []  # (page, text), in the order found
        self.seen = set()

    def add(self, page, text):
        if (page, text) not in self.seen:
            self.seen.add((page, text))
            self.problems.append((page, text))


def judge(site, origin, page, view, report, findings, stats):
    """Turns one run's report into problems."""
    name = view[0]
    for error in report["errors"]:
        findings.add(page, error.replace(origin, ""))
    for image in report["images"]:
        src = relative(image["src"], origin)
        if not image["loaded"] and not any(src in error for error in report["errors"]):
            findings.add(page, "image did not load: " + src)
    for text in report["overflows"]:
        findings.add(page, "at %s, %s" % (name, text))
    if report["columnsThatFit"] is not None:
        stats.setdefault(name, {})[page] = report["columnsThatFit"]
    for block in report["transcripts"]:
        label = "transcript %d" % (block["index"] + 1)
        if not block["markedUp"]:
            findings.add(page, label + " was not marked up by transcript.js")
        if block["scrollsSideways"]:
            findings.add(page, "at %s, %s scrolls sideways" % (name, label))
        for obstacle in block["covers"]:
            findings.add(page, "at %s, %s covers %s" % (name, label, obstacle))
        if view == WIDE:
            check_text(site, page, label, block, findings)
            stats["lines"] = stats.get("lines", 0) + len(block["lines"])
            for line in block["lines"]:
                if line["rows"] is not None and line["rows"] > 1:
                    findings.add(page, "at %s, transcript line of %d characters does not fit "
                                 "in one row (%d fit): %s" % (name, line["columns"],
                                                              block["columnsThatFit"],
                                                              line["start"]))
    if view == WIDE:
        for url in report["links"]:
            check_link(site, origin, page, url, findings, stats)


def check_text(site, page, label, block, findings):
    """The transcript's text on the page, and what copying it gives, must be the file's."""
    printed = site.transcripts(site.file_for("/" + page))
    if block["index"] >= len(printed):
        findings.add(page, "%s is not in the page's file" % label)
        return
    if block["text"] != printed[block["index"]]:
        findings.add(page, "%s: the text on the page is not the transcript's" % label)
    if block["copied"].rstrip("\n") != printed[block["index"]].rstrip("\n"):
        findings.add(page, "%s: the text copied from the page is not the transcript's" % label)


def check_link(site, origin, page, url, findings, stats):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return  # mailto:, javascript: and the like
    if parts.scheme + "://" + parts.netloc != origin:
        stats.setdefault("external", set()).add(url)
        return
    target = relative(url, origin)
    file = site.file_for(parts.path)
    if file is None:
        findings.add(page, "broken link to %s: no such file" % target)
    elif parts.fragment and file.suffix == ".html":
        fragment = urllib.parse.unquote(parts.fragment)
        # mdBook's 404 page has <base href="/"> (so that it works at any address), which sends
        # its heading's link to itself (#document-not-found-404) to the front page instead.
        if page == "404.html" and fragment in site.anchors(site.file_for("/404.html")):
            return
        if fragment not in site.anchors(file):
            findings.add(page, "broken link to %s: %s has no such anchor" % (target, file.name))


def check(site, views_for, jobs, log, only=()):
    """Serves the site, runs every page in every view it needs; returns (findings, stats)."""
    browser = find_browser()
    if browser is None:
        raise SystemExit("check.py: no Chromium found (tried $CHROMIUM, %s)" % ", ".join(BROWSERS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    server.daemon_threads = True
    origin = "http://127.0.0.1:%d" % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    findings, stats = Findings(), {}
    pages = [page for page in site.pages() if not only or page.lstrip("/") in only]
    runs = [(page, view) for page in pages for view in views_for(page)]
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="browser-check-") as scratch:
            def run(index, page, view):
                profile = os.path.join(scratch, "profile-%d" % index)
                try:
                    return run_browser(browser, origin, page, view, profile)
                except (OSError, ValueError) as error:
                    return None, "the check could not run Chromium: %s" % error

            with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(run, index, page, view)
                           for index, (page, view) in enumerate(runs)]
                for (page, view), future in zip(runs, futures):
                    report, failure = future.result()
                    shown = page.lstrip("/")
                    if failure is not None:
                        findings.add(shown, "at %s, %s" % (view[0], failure))
                    else:
                        judge(site, origin, shown, view, report, findings, stats)
    finally:
        server.shutdown()
        server.server_close()
    for path, status, referer in site.requests:
        # A page without an icon of its own (toc.html, the sidebar's frame without JavaScript)
        # makes Chromium ask for /favicon.ico.
        if status < 400 or path == "/favicon.ico":
            continue
        asker = relative(referer, origin).lstrip("/").split("#")[0] if referer else "(no referer)"
        # A file the page itself failed to load is already reported, by the probe.
        if not any(page == asker and path in text for page, text in findings.problems):
            findings.add(asker, "GET %s: %d" % (path, status))
    stats["runs"] = len(runs)
    stats["pages"] = len(pages)
    stats["seconds"] = time.monotonic() - started
    log("browser check: %s, %d pages, %d Chromium runs, %.1f s" % (
        os.path.basename(browser), stats["pages"], stats["runs"], stats["seconds"]))
    return findings, stats


def print_findings(findings, out=sys.stdout):
    """One line per problem, the print page's transcript lines (the chapters' again) in one;
    returns the number of lines."""
    chapters = {text for page, text in findings.problems if page != "print.html"}
    repeated = 0
    for page, text in findings.problems:
        if page == "print.html" and "transcript line" in text and text in chapters:
            repeated += 1
            continue
        print("%s: %s" % (page, text), file=out)
    if repeated:
        print("print.html: the same %d transcript lines as the chapters do not fit in one row"
              % repeated, file=out)
    return len(findings.problems) - repeated + (1 if repeated else 0)


def check_width_promise(fits, findings):
    """Every page must hold as many transcript columns at 1280 px as the Rust tests allow."""
    name, pattern = WIDTH_PROMISE
    source = REPO / name
    promise = pattern.search(source.read_text(encoding="utf-8")) if source.is_file() else None
    if promise is None:
        return
    for page, columns in sorted(fits.items()):
        if columns < int(promise.group(1)):
            findings.add(page, "at %s, only %d transcript columns fit, fewer than the %s that %s "
                         "allows (BOOK_WIDTH)" % (WIDE[0], columns, promise.group(1), name))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", nargs="?", default=str(REPO / "book"), help="the built book")
    parser.add_argument("--self-test", action="store_true",
                        help="check the fixture pages, which must fail in the planted ways")
    parser.add_argument("--page", action="append", default=[],
                        help="check only this page (a path in the book; may be repeated)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 2),
                        help="Chromium runs at a time")
    args = parser.parse_args()

    def log(text):
        print(text, flush=True)

    if args.self_test:
        return self_test(args.jobs, log)
    book = Path(args.book)
    if not (book / "index.html").is_file():
        raise SystemExit("check.py: %s holds no built book (run `mdbook build` first)" % book)
    site = Site([("/", book)])
    findings, stats = check(site, lambda page: [WIDE, NARROW], args.jobs, log, args.page)
    for name in (WIDE[0], NARROW[0]):
        fits = sorted(set(stats.get(name, {}).values()))
        if fits:
            log("transcript columns that fit at %s: %s" % (name, "-".join(
                str(n) for n in sorted({fits[0], fits[-1]}))))
    check_width_promise(stats.get(WIDE[0], {}), findings)
    log("transcript lines checked at %s: %d; links out of the book (not followed): %d" % (
        WIDE[0], stats.get("lines", 0), len(stats.get("external", ()))))
    if findings.problems:
        log("browser check: FAILED, %d problems" % print_findings(findings))
        return 1
    log("browser check: passed")
    return 0


def self_test(jobs, log):
    site = Site([("/", HERE / "fixture"), ("/theme/", REPO / "theme")])
    views = {"/index.html": [WIDE, NARROW], "/narrow.html": [NARROW]}
    findings, _ = check(site, lambda page: views.get(page, [WIDE]), jobs, log)
    print_findings(findings)
    missing = [(page, words) for page, words in PLANTED
               if not any(page == found and words in text for found, text in findings.problems)]
    unplanted = [(page, text) for page, text in findings.problems
                 if not any(page == planted and words in text for planted, words in PLANTED)]
    for page, words in missing:
        log("self-test: the check missed a planted problem: %s: %s" % (page, words))
    for page, text in unplanted:
        log("self-test: the check found a problem nobody planted: %s: %s" % (page, text))
    if missing or unplanted:
        log("self-test: FAILED")
        return 1
    log("self-test: passed (the check failed on the fixture, naming all %d planted problems)"
        % len(PLANTED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
