"""The report as a reader sees it: opened in a real browser (headless Chromium via Playwright).

Fails when a figure is missing or does not decode (every pixel drawn) or a table is empty.
Skips, saying why, where Playwright or a Chromium binary is absent (``.ci/run`` installs
Debian's ``chromium``; Playwright's own browser download is not needed: it drives the system
binary).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pandas as pd
import pytest

from metasearch.compare import summarize, write_report

CHROMIUM = os.environ.get("METASEARCH_CHROMIUM") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
FIGURES = ["Regret curves", "Average rank", "Final regret per task", "Speed-up"]


@pytest.fixture(scope="module")
def page_facts(runs: pd.DataFrame, costs: pd.DataFrame,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="pip install playwright (drives the system Chromium)")
    if CHROMIUM is None:
        pytest.skip("no Chromium binary (apt-get install chromium, or set METASEARCH_CHROMIUM)")
    summary = summarize(runs, costs, method_of_interest="metasearch",
                        baselines=["tpe", "random"], reference="tpe", n_boot=100)
    protocol = {"methods": ["metasearch", "tpe", "random"],
                "method_descriptions": {"metasearch": "meta-learned", "tpe": "Optuna's TPE"},
                "commands": ["metasearch compare --family toy"]}
    out = tmp_path_factory.mktemp("browser")
    report = write_report(out, runs, costs, summary, protocol=protocol)
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.goto(report.resolve().as_uri())
            return page.evaluate(_FACTS)
        finally:
            browser.close()


_FACTS = """() => ({
  sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
  images: [...document.querySelectorAll('img')].map(i => {
      const canvas = document.createElement('canvas');
      canvas.width = i.naturalWidth; canvas.height = i.naturalHeight;
      const context = canvas.getContext('2d');
      context.drawImage(i, 0, 0);
      const px = i.naturalWidth ? context.getImageData(0, 0, i.naturalWidth,
                                                       i.naturalHeight).data : [];
      let clear = 0, ink = 0;
      for (let k = 0; k < px.length; k += 4) {
        if (px[k + 3] < 255) clear++;
        else if (px[k] + px[k + 1] + px[k + 2] < 600) ink++;
      }
      return {alt: i.alt, complete: i.complete, width: i.naturalWidth, shown: i.clientWidth,
              clear: clear / (px.length / 4 || 1), ink: ink / (px.length / 4 || 1)};
  }),
  tables: [...document.querySelectorAll('table')].map(t => ({
      rows: t.querySelectorAll('tr').length - 1,
      empty: [...t.querySelectorAll('td')].filter(c => !c.textContent.trim()).length})),
  headline: [...document.querySelectorAll('h2 + ul > li')].map(li => li.textContent),
  overflow: document.documentElement.scrollWidth > window.innerWidth,
})"""


def test_every_figure_decodes_and_shows(page_facts: dict[str, Any]) -> None:
    images = {i["alt"]: i for i in page_facts["images"]}
    assert sorted(images) == sorted(FIGURES)
    for name, image in images.items():
        assert image["complete"] and image["width"] > 100 and image["shown"] > 100, name
        # Saved on an opaque white face: a pixel left transparent was never decoded (a cut
        # PNG still reports its full size); some must be drawn in colour.
        assert image["clear"] == 0 and image["ink"] > 0.01, image


def test_every_table_has_filled_rows(page_facts: dict[str, Any]) -> None:
    assert len(page_facts["tables"]) == 3  # protocol, summary, cost
    for table in page_facts["tables"]:
        assert table["rows"] >= 2 and table["empty"] == 0, table


def test_the_headline_comes_first(page_facts: dict[str, Any]) -> None:
    assert page_facts["sections"][0] == "Headline"
    assert page_facts["headline"][-1].startswith("after 20 trials: metasearch best (")
    assert not page_facts["overflow"]
