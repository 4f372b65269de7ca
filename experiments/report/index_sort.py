"""Sortable tables of reports/index.html: a click on a column's header sorts the rows by that
column, a second click reverses the order. Plain inline JavaScript, nothing to fetch.

The page says what to sort by; the script only reorders the rows:

* a sortable column's ``<th>`` has ``data-sort-type``: ``number`` (the cells' ``data-sort`` read
  as numbers), ``time`` (seconds since the epoch: a number too) or ``text`` (compared as words,
  digits as numbers, case ignored: ``poisson 4/s`` before ``poisson 10/s``);
* each of its cells has ``data-sort``, the value behind what it shows (``0.85`` behind ``850 ms``).
  An empty one sorts last whichever the direction;
* rows with equal values keep the page's own order (newest first).

The sorted column's ``<th>`` has ``aria-sort`` (``ascending`` or ``descending``) and an arrow, in
the page as written (it is written newest first, so its time column says ``descending``) and
after every click. The first click on another column sorts it ascending. Without JavaScript the
headers stay plain text and the rows keep the page's order.
"""

from __future__ import annotations

import math
from html import escape
from typing import Literal

SortType = Literal["number", "time", "text"]
Direction = Literal["ascending", "descending"]

#: the order of a column's values, a pure function (the unit tests run it): VALUES are the cells'
#: data-sort strings, TYPE the column's data-sort-type; returns the rows' indices in their new
#: order
SORT_ORDER_JS = r"""
const sortCollator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});
function sortKey(value, type) {
  if (value === undefined || value === null || String(value).trim() === '') return null;
  if (type === 'text') return String(value);
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}
function sortOrder(values, type, direction) {
  const keys = values.map(v => sortKey(v, type));
  const sign = direction === 'descending' ? -1 : 1;
  return keys.map((_, i) => i).sort((a, b) => {
    const x = keys[a], y = keys[b];
    if (x === null || y === null) return (x === null) - (y === null) || a - b;
    const c = type === 'text' ? sortCollator.compare(x, y) : (x < y ? -1 : x > y ? 1 : 0);
    return sign * c || a - b;
  });
}
"""

#: turns each sortable header of every ``table.sortable`` into a button that sorts by it
SORT_SCRIPT = SORT_ORDER_JS + r"""
(function(){
  for (const table of document.querySelectorAll('table.sortable')) {
    const body = table.tBodies[0];
    const heads = Array.from(table.tHead.rows[0].cells);
    const rows = Array.from(body.rows);  // the page's order, which ties keep
    heads.forEach((th, col) => {
      const type = th.dataset.sortType;
      if (!type) return;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort';
      button.title = 'sort by this column (click again to reverse)';
      button.append(...Array.from(th.childNodes));
      th.append(button);
      button.addEventListener('click', () => {
        const direction = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        const values = rows.map(row => row.cells[col] ? row.cells[col].dataset.sort : '');
        for (const other of heads) other.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', direction);
        body.append(...sortOrder(values, type, direction).map(i => rows[i]));
      });
    });
  }
})();
"""

SORT_CSS = """
th button.sort{font:inherit;color:inherit;background:none;border:0;padding:0;margin:0;cursor:pointer;text-align:inherit}
th button.sort:hover{text-decoration:underline}
th button.sort:focus-visible{outline:2px solid #1565c0;outline-offset:2px}
th .arrow::after{margin-left:.25em}
th button.sort .arrow::after{content:"\\2195";color:#aaa}
th[aria-sort=ascending] .arrow::after,th[aria-sort=ascending] button.sort .arrow::after{content:"\\25B2";color:inherit}
th[aria-sort=descending] .arrow::after,th[aria-sort=descending] button.sort .arrow::after{content:"\\25BC";color:inherit}
"""


def sort_header(label: str, sort_type: SortType | None, current: Direction | None = None) -> str:
    """A column's ``<th>``: LABEL, sortable as SORT_TYPE (plain when None); CURRENT when the page
    is written sorted by it."""
    if sort_type is None:
        return f"<th>{escape(label)}</th>"
    aria = f' aria-sort="{current}"' if current else ""
    return (f'<th data-sort-type="{sort_type}"{aria}>{escape(label)}'
            "<span class=arrow aria-hidden=true></span></th>")


def sort_value(value: float | str | None) -> str:
    """A cell's ``data-sort`` attribute: a number as Python writes it (JavaScript reads it back
    exactly), text as is, nothing for None or a number that is not finite (sorted last)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = ""
    elif isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = value
    return f' data-sort="{escape(text, quote=True)}"'
