// Marks up console transcripts after highlight.js has run: the command line, each line's process
// name (the main process bold, workers in their own colour), its clock, error lines and the
// checker's exit-status note. The page's text stays exactly what the program printed.
(function () {
    "use strict";

    const processAndClock = /^(\s*)(MainProcess|[A-Z][A-Za-z]*Process-\d+(?::\d+)*)(\s+)\[(\s*\d+\.\d+s)\]/;

    function escape(text) {
        return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    }

    function span(kind, text) {
        return '<span class="transcript-' + kind + '">' + escape(text) + "</span>";
    }

    function markLine(line) {
        if (line.startsWith("$ ")) {
            return span("command", line);
        }
        if (line.startsWith("# ")) {
            return span("note", line);
        }
        if (/^\[(exit status|killed by signal)[^\]]*\]$/.test(line)) {
            return span("status", line);
        }
        if (line.startsWith("error:")) {
            return span("error", line);
        }
        const match = processAndClock.exec(line);
        if (!match) {
            return escape(line);
        }
        const [whole, indent, name, gap, clock] = match;
        const kind = name === "MainProcess" ? "main" : "worker";
        return escape(indent) + span(kind, name) + escape(gap) + "[" + span("clock", clock) + "]" +
            escape(line.slice(whole.length));
    }

    document.querySelectorAll("pre > code.language-console").forEach(function (block) {
        const lines = block.textContent.replace(/\n$/, "").split("\n");
        block.innerHTML = lines.map(markLine).join("\n");
    });
})();
