#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Structural check of nsm-vectors' HTML report (tests/it_vectors.sh): one self-contained page
# with the legend, a summary row per grading, the counts by layer and a layer x class matrix
# whose every cell is coloured by one of the five verdicts.
#   check_html.py PAGE GRADINGS DOCS [DOC:COLUMN:VERDICT ...]
import sys
from html.parser import HTMLParser

VERDICTS = ["right", "wrongly_accepted", "wrongly_rejected", "error", "hang"]


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.cells, self.rows, self.errors = [], [], [], []
        self.in_matrix = False
        self.row = None
        self.doc_titles = {}
        self.legend = []
        self.text_target = None
        self.in_layers = False
        self.layer_rows = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag in ("script", "link", "img", "iframe") or "src" in a:
            self.errors.append("external or active content: <%s>" % tag)
        if tag == "table":
            self.tables.append(cls)
            self.in_matrix = "matrix" in cls
            self.in_layers = "layers" in cls
        if tag == "tr" and self.in_layers:
            self.layer_rows += 1
        if tag == "span" and any(c.startswith("v-") for c in cls):
            self.legend.append(cls)
        if not self.in_matrix:
            return
        if tag == "tr":
            self.row = {"cells": [], "doc": None, "title": None}
            self.rows.append(self.row)
        if tag == "th" and "doc" in cls and self.row is not None:
            self.row["title"] = a.get("title", "")
            self.text_target = self.row
        if tag == "td" and "cell" in cls and self.row is not None:
            verdict = [c[2:] for c in cls if c.startswith("v-")]
            self.row["cells"].append(verdict[0] if verdict else "missing")

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_matrix = False
            self.in_layers = False
        if tag == "th":
            self.text_target = None

    def handle_data(self, data):
        if self.text_target is not None and self.text_target["doc"] is None:
            self.text_target["doc"] = data.strip()


def main():
    path, gradings, docs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    page = Page()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    page.feed(text)
    problems = list(page.errors)
    if not text.startswith("<!DOCTYPE html>") or "<style>" not in text:
        problems.append("not a self-contained page (doctype, inline style)")
    if sum("matrix" in t for t in page.tables) != 1:
        problems.append("want one matrix table, got %d" % sum("matrix" in t for t in page.tables))
    if page.layer_rows != 9:
        problems.append("the by-layer table has %d rows, want a header and 8 layers" % page.layer_rows)
    legend = {c[2:] for cls in page.legend for c in cls if c.startswith("v-")}
    if legend != set(VERDICTS):
        problems.append("legend has %s" % sorted(legend))
    doc_rows = [r for r in page.rows if r["doc"]]
    if len(doc_rows) != docs:
        problems.append("want %d document rows, got %d" % (docs, len(doc_rows)))
    for r in doc_rows:
        if len(r["cells"]) != gradings:
            problems.append("%s: %d cells, want %d" % (r["doc"], len(r["cells"]), gradings))
        if any(c not in VERDICTS for c in r["cells"]):
            problems.append("%s: cell without a verdict colour: %s" % (r["doc"], r["cells"]))
        if not r["title"]:
            problems.append("%s: no description on hover" % r["doc"])
    by_doc = {r["doc"]: r["cells"] for r in doc_rows}
    for want in sys.argv[4:]:
        doc, col, verdict = want.split(":")
        got = by_doc.get(doc, [])
        if int(col) >= len(got) or got[int(col)] != verdict:
            problems.append("%s column %s: want %s, got %s" % (doc, col, verdict, got))
    for p in problems[:10]:
        print("problem: " + p)
    if problems:
        sys.exit(1)
    print("html: %d document rows x %d gradings, every cell coloured, descriptions on hover"
          % (len(doc_rows), gradings))


main()
