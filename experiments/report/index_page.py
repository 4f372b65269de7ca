"""reports/index.html as a page: the runs table with filters and a Compare button, the studies,
then the comparisons. One self-contained file (inline CSS and plain JavaScript, no external asset).

The runs and the studies are sortable: a click on a column's header sorts by it, a second click
reverses (:mod:`experiments.report.index_sort`); the page is written newest first.

Compare works in two places, and the page tells them apart by its own URL:

* served by `harness reports serve` (http): the button POSTs the ticked run folders to
  ``compare`` beside the page and opens the comparison it answers with;
* opened from disk (file://), or from a server that cannot compare: the button shows the
  `harness compare` command for the ticked runs, with a Copy button.

The first run ticked is the comparison's baseline.

Each run's validity warnings show as short labels (:data:`WARNING_LABELS`), the warning's sentence
as the label's tooltip; "only runs without warnings" hides every run that has one, and every run
whose warnings are not known (unreadable, or not computable from its metrics.json).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from experiments.report.html import CSS
from experiments.report.index_rows import FIGURES, INDEX_FILE, IndexRow
from experiments.report.index_sort import SORT_CSS, SORT_SCRIPT, SortType, sort_header, sort_value
from experiments.report.index_studies import StudyRow, StudyVerdict
from experiments.report.validity import ValidityWarning


@dataclass(frozen=True)
class ComparisonRow:
    """One comparison folder of the index."""

    name: str
    runs: list[str]
    written: str
    href: str


#: the filters above the table: (select id, row attribute, label)
SELECT_FILTERS: tuple[tuple[str, str, str], ...] = (
    ("f-status", "status", "status"),
    ("f-profile", "profile", "profile"),
    ("f-policy", "policy", "policy"),
)

#: the short label of each validity warning code in the index (the code itself for any other)
WARNING_LABELS: dict[str, str] = {
    "partial": "partial",
    "overlap": "overlap",
    "not_exercised": "retries idle",
    "few_samples": "few samples",
    "generator_behind": "generator late",
    "kafka_ack_slow": "Kafka acks slow",
}

PAGE_CSS = """
main{max-width:none}
.toolbar{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:center;margin:.6em 0}
.toolbar label{font-size:.9em;color:#444}
.toolbar input[type=search]{min-width:16em;padding:.25em .4em}
.scroll{overflow-x:auto}
table.runs{font-size:.85em}
table.runs td{white-space:nowrap;padding:.25em .45em}
table.runs th{padding:.25em .45em}
table.runs td.wrap{white-space:normal;min-width:9em}
table.runs td.reason{white-space:normal;min-width:10em;max-width:22em;color:#a33}
table.runs tr.unreadable td{color:#888}
.warn{display:inline-block;background:#fff4e5;border:1px solid #e6a23c;border-radius:3px;padding:0 .3em;margin:0 .25em .15em 0;cursor:help}
td.st-failed,td.st-stopped,td.st-unreadable{background:#fdecea;font-weight:bold}
td.st-finished{color:#2e7d32}
.cmp{position:sticky;bottom:0;background:#fff;border-top:2px solid #e5e5e5;padding:.6em 0}
.cmp button{padding:.35em 1em;font-size:1em}
#compare-help{display:none;margin:.5em 0}
#compare-help pre{display:inline-block;margin:.3em .6em .3em 0;vertical-align:middle;white-space:pre-wrap;word-break:break-all;max-width:100%}
#compare-error{color:#c62828;font-weight:bold}
.muted{color:#666;font-size:.9em}
table.studies td{vertical-align:top}
td.verdicts{white-space:nowrap}
.verdict{display:inline-block;border:1px solid #ccc;border-radius:3px;padding:0 .3em;margin:0 .25em .15em 0;cursor:help;white-space:nowrap}
.v-reproduced{background:#e8f5e9;border-color:#66bb6a}
.v-not_reproduced{background:#fdecea;border-color:#e57373}
.v-not_testable{background:#f5f5f5}
td.problems{color:#a33}
"""

SCRIPT = r"""
(function(){
  const table = document.getElementById('runs');
  if (!table) return;
  const rows = Array.from(table.tBodies[0].rows);
  const text = document.getElementById('f-text');
  const selects = Array.from(document.querySelectorAll('select[data-filter]'));
  const clean = document.getElementById('f-clean');
  const shown = document.getElementById('shown');
  const picked = [];  // folder names in the order they were ticked (the first is the baseline)
  const button = document.getElementById('compare');
  const state = document.getElementById('picked');
  const help = document.getElementById('compare-help');
  const command = document.getElementById('compare-command');
  const error = document.getElementById('compare-error');
  const served = location.protocol === 'http:' || location.protocol === 'https:';

  function filter() {
    const needle = text.value.trim().toLowerCase();
    let n = 0;
    for (const row of rows) {
      let ok = !needle || row.textContent.toLowerCase().includes(needle);
      for (const s of selects) {
        if (s.value && row.dataset[s.dataset.filter] !== s.value) ok = false;
      }
      if (clean.checked && row.dataset.warnings !== 'none') ok = false;
      row.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = n + ' of ' + rows.length + ' runs shown';
  }

  function quote(arg) {
    return /^[A-Za-z0-9_.\/:=+-]+$/.test(arg) ? arg : "'" + arg.replace(/'/g, "'\\''") + "'";
  }

  function commandLine() {
    const root = table.dataset.root;
    const args = picked.map(f => quote(root + '/' + f));
    const extra = table.dataset.rootOption ? ' --reports-root ' + quote(table.dataset.rootOption) : '';
    return 'harness compare ' + args.join(' ') + extra;
  }

  function update() {
    button.disabled = picked.length < 2;
    state.textContent = picked.length
      ? picked.length + ' ticked; baseline ' + picked[0]
      : 'tick two or more runs to compare them (the first ticked is the baseline)';
    if (help.style.display === 'block') command.textContent = commandLine();
  }

  function showCommand(message) {
    command.textContent = commandLine();
    error.textContent = message || '';
    help.style.display = 'block';
  }

  async function compare() {
    if (picked.length < 2) return;
    if (!served) { showCommand(''); return; }
    button.disabled = true;
    state.textContent = 'comparing ' + picked.join(', ') + '...';
    try {
      const response = await fetch('compare', {
        method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({runs: picked}),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok && answer.url) { location.href = answer.url; return; }
      showCommand('This server did not compare them (' + (answer.error || 'HTTP ' + response.status) + '); from a shell:');
    } catch (e) {
      showCommand('No comparing server answered (' + e + '); from a shell:');
    }
    update();
  }

  async function copy() {
    const value = command.textContent;
    try { await navigator.clipboard.writeText(value); }
    catch (e) {
      const range = document.createRange();
      range.selectNodeContents(command);
      const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);
      document.execCommand('copy');
    }
    document.getElementById('copied').textContent = 'copied';
  }

  for (const box of table.querySelectorAll('input.pick')) {
    box.checked = false;
    box.addEventListener('change', () => {
      const i = picked.indexOf(box.value);
      if (box.checked && i < 0) picked.push(box.value);
      if (!box.checked && i >= 0) picked.splice(i, 1);
      document.getElementById('copied').textContent = '';
      update();
    });
  }
  text.addEventListener('input', filter);
  for (const s of selects) s.addEventListener('change', filter);
  clean.addEventListener('change', filter);
  button.addEventListener('click', compare);
  document.getElementById('copy').addEventListener('click', copy);
  document.body.dataset.mode = served ? 'served' : 'file';
  filter();
  update();
})();
"""

#: the runs table's columns: (header, how it sorts; None: not sortable)
_HEADERS: tuple[tuple[str, SortType | None], ...] = (
    ("", None),
    ("run", "text"),
    ("started", "time"),
    ("status", "text"),
    ("reason", "text"),
    ("warnings", "number"),
    ("policy", "text"),
    ("profile", "text"),
    ("arrival / duration", "text"),
    ("workers", "text"),
    ("threshold", "number"),
    *((label, "number") for _, label in FIGURES),
)
#: the column the runs table is written sorted by (newest first)
_DEFAULT_SORT = "started"


def _cell(text: str, css: str = "", second: str = "", sort: float | str | None = None) -> str:
    """A cell; SECOND, when given, is a muted second line (the run's duration under its start);
    SORT is the value its column sorts by (the text itself when not given)."""
    attr = f' class="{css}"' if css else ""
    below = f"<br><span class=muted>{escape(second)}</span>" if second else ""
    key = sort_value(text if sort is None else sort)
    return f"<td{attr}{key}>{escape(text)}{below}</td>"


def _warnings_cell(warnings: tuple[ValidityWarning, ...] | None) -> str:
    """Short labels, each with its sentence as the tooltip; empty when none or not known. Sorts
    by how many there are (not known: last)."""
    labels = " ".join(
        f'<span class=warn data-code="{escape(w.code, quote=True)}" '
        f'title="{escape(w.text, quote=True)}">{escape(WARNING_LABELS.get(w.code, w.code))}</span>'
        for w in warnings or ()
    )
    key = sort_value(None if warnings is None else len(warnings))
    return f"<td class=wrap{key}>{labels}</td>"


def _warnings_state(warnings: tuple[ValidityWarning, ...] | None) -> str:
    """The row's ``data-warnings``: ``none``, ``some`` or ``unknown`` (not computed)."""
    if warnings is None:
        return "unknown"
    return "some" if warnings else "none"


def _figure_sort(row: IndexRow, key: str) -> float | str:
    """A figure's sort value: its number, or empty (sorted last) when not measured."""
    value = row.values.get(key)
    return "" if value is None else value


def _run_tr(row: IndexRow) -> str:
    pick = (
        f'<input type=checkbox class=pick value="{escape(row.folder, quote=True)}" '
        f'aria-label="compare {escape(row.name, quote=True)}">'
        if row.comparable
        else ""
    )
    name = escape(row.name) + (
        f' <span class=muted>({row.repeats} repeats)</span>' if row.repeats > 1 else ""
    )
    if row.name != row.folder:
        name += f' <span class=muted>{escape(row.folder)}</span>'
    if row.has_report:
        name = f'<a href="{escape(row.folder, quote=True)}/{INDEX_FILE}">{name}</a>'
    attrs = " ".join(
        f'data-{attr}="{escape(value, quote=True)}"'
        for attr, value in (
            ("folder", row.folder),
            ("status", row.status),
            ("profile", row.profile),
            ("policy", row.policy),
            ("warnings", _warnings_state(row.warnings)),
        )
    )
    css = ' class="unreadable"' if not row.comparable else ""
    cells = [
        f"<td>{pick}</td>",
        f"<td{sort_value(row.name)}>{name}</td>",
        _cell(row.started, "", f"lasted {row.lasted}" if row.lasted else "", row.started_ts),
        _cell(row.status, f"st-{row.status}"),
        _cell(row.reason, "reason" if row.reason else ""),
        _warnings_cell(row.warnings),
        _cell(row.policy, "wrap"),
        _cell(row.profile),
        _cell(row.arrival, "", f"for {row.duration}" if row.duration else ""),
        _cell(row.workers, "num"),
        _cell(row.threshold, "num"),
        *(_cell(row.figures.get(key, ""), "num", sort=_figure_sort(row, key))
          for key, _ in FIGURES),
    ]
    return f"<tr {attrs}{css}>{''.join(cells)}</tr>"


def _select(select_id: str, attr: str, label: str, rows: Sequence[IndexRow]) -> str:
    values = sorted({getattr(r, attr) for r in rows if getattr(r, attr)})
    options = '<option value="">all</option>' + "".join(
        f'<option value="{escape(v, quote=True)}">{escape(v)}</option>' for v in values
    )
    return (
        f'<label>{escape(label)} <select id="{select_id}" data-filter="{attr}">{options}'
        "</select></label>"
    )


def _runs_section(rows: Sequence[IndexRow], root_arg: str, root_option: str, zone: str) -> str:
    if not rows:
        return "<section id=runs-section><h2>Runs</h2><p>No run reports yet.</p></section>"
    head = "".join(
        sort_header(f"started ({zone})" if h == "started" else h, kind,
                    "descending" if h == _DEFAULT_SORT else None)
        for h, kind in _HEADERS
    )
    body = "".join(_run_tr(r) for r in rows)
    filters = (
        '<div class=toolbar><label>filter <input type=search id=f-text '
        'placeholder="any text of a row"></label>'
        + "".join(_select(i, a, lab, rows) for i, a, lab in SELECT_FILTERS)
        + "<label><input type=checkbox id=f-clean> only runs without warnings</label>"
        + "<span id=shown class=muted></span></div>"
    )
    compare = (
        "<div class=cmp><button id=compare type=button disabled>Compare</button> "
        "<span id=picked class=muted></span>"
        "<div id=compare-help><span id=compare-error></span><br>"
        "<pre id=compare-command></pre><button id=copy type=button>Copy</button> "
        "<span id=copied class=muted></span></div></div>"
    )
    table = (
        f'<div class=scroll><table id=runs class="runs sortable" data-root="{escape(root_arg, quote=True)}" '
        f'data-root-option="{escape(root_option, quote=True)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
    note = (
        "<p class=note>Newest first; click a column's header to sort by it, again to reverse "
        "(empty cells last). Figures of a run with repeats are the repeats' mean. "
        "Warnings: reasons not to take a run's figures at face value; hover one for its "
        "sentence. "
        "Tick two or more runs and press Compare: served by <code>harness reports serve</code> "
        "the comparison opens; opened from disk, the page shows the <code>harness compare</code> "
        "command.</p>"
    )
    return f"<section id=runs-section><h2>Runs</h2>{note}{filters}{table}{compare}</section>"


#: a verdict's mark before its claim's id (the outcome in words is the tooltip's first word)
OUTCOME_MARKS: dict[str, str] = {"reproduced": "\u2713", "not_reproduced": "\u2717",
                                 "not_testable": "?"}

#: the studies table's columns: (header, how it sorts; None: not sortable)
_STUDY_HEADERS: tuple[tuple[str, SortType | None], ...] = (
    ("study", "text"),
    ("written", "time"),
    ("cells x repeats", "number"),
    ("verdicts", None),
    ("missing or unreadable", "text"),
)


def _study_shape(row: StudyRow) -> str:
    """``4 x 3`` and, when fewer finished, ``10 of 12 finished`` under it; empty when unknown."""
    if row.planned is None:
        return _cell("", sort="")
    second = (f"{row.finished} of {row.planned} finished"
              if row.finished is not None and row.finished < row.planned else "")
    return _cell(f"{row.cells} x {row.repeats}", "num", second, row.planned)


def _verdict_chip(v: StudyVerdict) -> str:
    """A claim's id marked with its outcome; the outcome, the claim's words and the numbers as
    its tooltip."""
    tip = f"{v.label}: " + " ".join(t for t in (v.says, v.reason) if t)
    return (
        f'<span class="verdict v-{escape(v.outcome, quote=True)}" '
        f'data-claim="{escape(v.claim, quote=True)}" title="{escape(tip, quote=True)}">'
        f"{OUTCOME_MARKS.get(v.outcome, '?')} {escape(v.claim)}</span>"
    )


def _verdicts_cell(row: StudyRow) -> str:
    """Each claim with its outcome, on one line."""
    return f"<td class=verdicts>{' '.join(_verdict_chip(v) for v in row.verdicts)}</td>"


def _study_tr(row: StudyRow) -> str:
    name = escape(row.name)
    if row.name != row.folder:
        name += f' <span class=muted>{escape(row.folder)}</span>'
    if row.has_report:
        name = f'<a href="{escape(row.href, quote=True)}">{name}</a>'
    problems = "; ".join(row.problems)
    return (
        f'<tr data-study="{escape(row.folder, quote=True)}" '
        f'data-complete="{"no" if row.problems else "yes"}">'
        f"<td{sort_value(row.name)}>{name}</td>"
        f"{_cell(row.written, '', '', row.written_ts)}"
        f"{_study_shape(row)}{_verdicts_cell(row)}"
        f"{_cell(problems, 'problems' if problems else '')}</tr>"
    )


def _studies_section(studies: Sequence[StudyRow], zone: str) -> str:
    if not studies:
        return ("<section id=studies><h2>Studies</h2><p>No studies yet "
                "(<code>harness study NAME</code> writes them).</p></section>")
    head = "".join(
        sort_header(f"written ({zone})" if h == "written" else h, kind,
                    "descending" if h == "written" else None)
        for h, kind in _STUDY_HEADERS
    )
    note = (
        "<p class=note>Each study's cells x repeats (and how many finished when not all did), "
        "and each claim's verdict: \u2713 reproduced, \u2717 not reproduced, ? not testable "
        "here; hover one for the claim and its numbers. A study folder missing a file, or whose "
        "<code>study.json</code> does not read, says so.</p>"
    )
    return (
        f"<section id=studies><h2>Studies</h2>{note}<div class=scroll>"
        f'<table id=studies-table class="studies sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(_study_tr(r) for r in studies)}</tbody></table></div></section>"
    )


def _comparisons_section(comparisons: Sequence[ComparisonRow]) -> str:
    if not comparisons:
        return "<section id=comparisons><h2>Comparisons</h2><p>No comparisons yet.</p></section>"
    body = "".join(
        f'<tr><td><a href="{escape(c.href, quote=True)}">{escape(c.name)}</a></td>'
        f"<td>{escape(', '.join(c.runs))}</td><td>{escape(c.written)}</td></tr>"
        for c in comparisons
    )
    return (
        "<section id=comparisons><h2>Comparisons</h2><table><thead><tr><th>comparison</th>"
        f"<th>runs (baseline first)</th><th>written</th></tr></thead><tbody>{body}</tbody>"
        "</table></section>"
    )


def index_html(
    rows: Sequence[IndexRow],
    comparisons: Sequence[ComparisonRow],
    *,
    root_arg: str,
    root_option: str = "",
    zone: str = "local",
    studies: Sequence[StudyRow] = (),
) -> str:
    """The page. ROOT_ARG is the reports root as `harness compare` should be given it (run
    paths are ``ROOT_ARG/<folder>``); ROOT_OPTION, when not empty, is passed as
    ``--reports-root`` so the comparison lands beside this index; ZONE names the time zone of
    the start times."""
    subtitle = f"{len(rows)} runs, {len(studies)} studies, {len(comparisons)} comparisons"
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Experiment reports</title><style>{CSS}{PAGE_CSS}{SORT_CSS}</style></head>"
        f"<body><main><h1>Experiment reports</h1><p class=subtitle>{escape(subtitle)}</p>"
        '<nav><a href="#runs-section">Runs</a><a href="#studies">Studies</a>'
        '<a href="#comparisons">Comparisons</a></nav>'
        f"{_runs_section(rows, root_arg, root_option, zone)}{_studies_section(studies, zone)}"
        f"{_comparisons_section(comparisons)}"
        f"</main><script>{SCRIPT}</script><script>{SORT_SCRIPT}</script></body></html>\n"
    )
