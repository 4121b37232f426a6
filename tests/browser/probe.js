// The browser check's probe. check.py's server puts this script at the start of the <head> of every
// page it serves (the built book never holds it). It notes errors from the moment the page starts
// loading, and once the page has loaded and its fonts are in, measures the page and writes what
// it found, as JSON, into an element check.py reads back from the DOM Chromium dumps.
(function () {
    "use strict";

    const REPORT_ID = "browser-check-report";
    const report = {
        errors: [],
        links: [],
        images: [],
        viewport: null,
        sidebarShown: false,
        columnsThatFit: null,
        transcripts: [],
        overflows: [],
    };

    function describe(value) {
        if (value instanceof Error) {
            return value.name + ": " + value.message;
        }
        try {
            return typeof value === "string" ? value : JSON.stringify(value);
        } catch (_) {
            return String(value);
        }
    }

    // Uncaught errors, and elements that failed to load (their error events do not bubble, so the
    // listener runs in the capture phase).
    window.addEventListener("error", function (event) {
        const target = event.target;
        if (target && target !== window && target.nodeType === Node.ELEMENT_NODE) {
            const url = target.currentSrc || target.src || target.href || "";
            report.errors.push("failed to load <" + target.localName + "> " + url);
        } else {
            const where = event.filename ? " (" + event.filename + ":" + event.lineno + ")" : "";
            report.errors.push(event.message + where);
        }
    }, true);
    window.addEventListener("unhandledrejection", function (event) {
        report.errors.push("unhandled promise rejection: " + describe(event.reason));
    });
    const consoleError = console.error;
    console.error = function (...args) {
        report.errors.push("console error: " + args.map(describe).join(" "));
        return consoleError.apply(console, args);
    };

    function box(element) {
        const rect = element.getBoundingClientRect();
        return { left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom };
    }

    function shown(element) {
        return element !== null && element.getClientRects().length > 0;
    }

    function overlapsSideways(a, b) {
        return a.left < b.right - 0.5 && b.left < a.right - 0.5;
    }

    function start(text, length) {
        const chars = Array.from(text);
        return chars.length > length ? chars.slice(0, length).join("") + "…" : text;
    }

    function oneLine(text, length) {
        return start(text.replace(/\s+/g, " ").trim(), length);
    }

    // The width of one column of a transcript, in the font the block is drawn in.
    function columnWidth(code) {
        const context = document.createElement("canvas").getContext("2d");
        context.font = getComputedStyle(code).font;
        return context.measureText("0").width;
    }

    // What selecting the block and copying it gives.
    function copied(code) {
        const selection = window.getSelection();
        selection.selectAllChildren(code);
        const text = selection.toString();
        selection.removeAllRanges();
        return text;
    }

    function textWidth(code) {
        const style = getComputedStyle(code);
        return code.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    }

    // How many columns the widest transcript block this page can hold has room for: a block whose
    // longest line is longer than any, measured and taken away again.
    function columnsThatFit(main) {
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        pre.style.visibility = "hidden";
        pre.style.setProperty("--transcript-columns", "1000");
        code.className = "language-console";
        code.textContent = "0";
        pre.append(code);
        main.append(pre);
        const columns = Math.floor((textWidth(code) + 0.01) / columnWidth(code));
        pre.remove();
        return columns;
    }

    function measureTranscripts(obstacles) {
        document.querySelectorAll("pre > code.language-console").forEach(function (code, index) {
            const pre = code.parentElement;
            const lineHeight = parseFloat(getComputedStyle(code).lineHeight);
            const spans = code.querySelectorAll(":scope > .transcript-line");
            const lines = spans.length > 0
                ? Array.from(spans, function (span) {
                    return {
                        text: span.textContent,
                        rows: Math.round(span.getBoundingClientRect().height / lineHeight),
                    };
                })
                : code.textContent.replace(/\n$/, "").split("\n").map(function (text) {
                    return { text: text, rows: null };
                });
            const block = box(pre);
            report.transcripts.push({
                index: index,
                markedUp: spans.length > 0,
                text: code.textContent,
                copied: copied(code),
                columnsThatFit: Math.floor((textWidth(code) + 0.01) / columnWidth(code)),
                scrollsSideways: code.scrollWidth > code.clientWidth + 1,
                covers: obstacles.filter(function (obstacle) {
                    return overlapsSideways(block, obstacle.box);
                }).map(function (obstacle) { return obstacle.name; }),
                lines: lines.map(function (line) {
                    return {
                        columns: Array.from(line.text).length,
                        start: start(line.text, 60),
                        rows: line.rows,
                    };
                }),
            });
        });
    }

    // Whatever sticks out of the page's content area: the page would scroll sideways, or, as
    // mdBook hides overflow on the body, be cut off.
    function measureOverflow(content) {
        const area = box(content);
        const style = getComputedStyle(content);
        const left = area.left + parseFloat(style.paddingLeft);
        const right = area.right - parseFloat(style.paddingRight);
        if (content.scrollWidth > content.clientWidth + 1) {
            report.overflows.push("the content area scrolls sideways (" + content.scrollWidth +
                " px wide in " + content.clientWidth + " px)");
        }
        const suspects = content.querySelectorAll("main > *, main table, main img, main pre");
        suspects.forEach(function (element) {
            if (!shown(element)) {
                return;
            }
            const rect = box(element);
            if (rect.left < left - 5.5 || rect.right > right + 5.5) {
                report.overflows.push("<" + element.localName + "> \"" +
                    oneLine(element.textContent, 40) + "\" spans " + Math.round(rect.left) + "-" +
                    Math.round(rect.right) + " px, outside the content area " + Math.round(left) +
                    "-" + Math.round(right) + " px");
            }
        });
    }

    function measure() {
        report.viewport = { width: window.innerWidth, height: window.innerHeight };
        const toggle = document.getElementById("mdbook-sidebar-toggle-anchor");
        report.sidebarShown = toggle !== null && toggle.checked;

        const obstacles = [];
        const sidebar = document.getElementById("mdbook-sidebar");
        if (report.sidebarShown && shown(sidebar)) {
            obstacles.push({ name: "the sidebar", box: box(sidebar) });
        }
        document.querySelectorAll(".nav-chapters").forEach(function (arrow) {
            if (shown(arrow)) {
                const which = arrow.classList.contains("previous") ? "previous" : "next";
                obstacles.push({ name: "the " + which + "-chapter arrow", box: box(arrow) });
            }
        });

        const main = document.querySelector(".content main");
        if (main !== null) {
            report.columnsThatFit = columnsThatFit(main);
            measureOverflow(main.closest(".content"));
        }
        measureTranscripts(obstacles);

        const links = Array.from(document.querySelectorAll("a[href]"), function (a) {
            return a.href;
        });
        report.links = Array.from(new Set(links));
        report.images = Array.from(document.images, function (image) {
            return {
                src: image.currentSrc || image.src,
                loaded: image.complete && image.naturalWidth > 0,
            };
        });
    }

    function publish() {
        const out = document.createElement("pre");
        out.id = REPORT_ID;
        out.hidden = true;
        out.textContent = JSON.stringify(report);
        document.body.append(out);
        // In the check's frame (the narrow view), the frame's page passes the report on.
        if (window.parent !== window) {
            window.parent.postMessage({ browserCheckReport: out.textContent }, location.origin);
        }
    }

    window.addEventListener("load", function () {
        document.fonts.ready.then(function () {
            setTimeout(function () {
                try {
                    measure();
                } catch (error) {
                    report.errors.push("the probe failed: " + describe(error));
                }
                publish();
            }, 0);
        });
    });
})();
