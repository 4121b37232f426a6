// Marks up console transcripts after highlight.js has run: the command line, each line's process
// name (the main process bold, workers in their own colour), its clock, error lines and the
// checker's exit-status note.
//
// Each line becomes a span of its own that transcript.css lays out as a block with a hanging
// indent: a line too long for a narrow screen wraps under its message, past the process column and
// the clock. The spans are joined by the newlines the program printed, so the page's text (and
// what the copy button copies) stays exactly the transcript, one line per line.
(function () {
    "use strict";

    // "MainProcess      [ 0.00s] ", "   ForkProcess-1 [ 0.00s] ", "      ForkServer [ 0.00s] "
    const processAndClock = /^(\s*)([A-Z][A-Za-z]*(?:-\d+(?::\d+)*)?)(\s+)\[(\s*\d+\.\d+s)\]( ?)/;

    function escape(text) {
        return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    }

    function span(kind, text) {
        return '<span class="transcript-' + kind + '">' + escape(text) + "</span>";
    }

    // How many characters a line is long, as a monospace font lays it out.
    function columns(text) {
        return Array.from(text).length;
    }

    // The line's markup, and the column its wrapped rows continue at.
    function markLine(line) {
        const indent = columns(line) - columns(line.trimStart());
        for (const [prefix, kind] of [["$ ", "command"], ["# ", "note"]]) {
            if (line.startsWith(prefix)) {
                return { html: span(kind, line), hang: prefix.length };
            }
        }
        if (/^\[(exit status|killed by signal)[^\]]*\]$/.test(line)) {
            return { html: span("status", line), hang: 1 };
        }
        if (line.startsWith("error:")) {
            return { html: span("error", line), hang: "error: ".length };
        }
        if (line.startsWith("warning: ")) {
            return { html: escape(line), hang: "warning: ".length };
        }
        const match = processAndClock.exec(line);
        if (!match) {
            return { html: escape(line), hang: indent + 4 };
        }
        const [whole, spaces, name, gap, clock, space] = match;
        const kind = name === "MainProcess" ? "main" : "worker";
        const html = escape(spaces) + span(kind, name) + escape(gap) +
            "[" + span("clock", clock) + "]" + escape(space) + escape(line.slice(whole.length));
        return { html: html, hang: columns(whole) };
    }

    document.querySelectorAll("pre > code.language-console").forEach(function (block) {
        const text = block.textContent;
        const body = text.endsWith("\n") ? text.slice(0, -1) : text;
        const lines = body.split("\n");
        block.innerHTML = lines.map(function (line) {
            const marked = markLine(line);
            return '<span class="transcript-line" style="--hang: ' + marked.hang + '">' +
                marked.html + "</span>";
        }).join("\n") + text.slice(body.length);
        // The block is as wide as its longest line, if the page has the room (transcript.css).
        const longest = Math.max(...lines.map(columns));
        block.parentElement.style.setProperty("--transcript-columns", String(longest));
    });
})();
