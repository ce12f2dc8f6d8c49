"""Addresses the dashboard prints: a run id survives the trip through a URL."""

from urllib.parse import parse_qs, urlsplit

import pytest

from nanogpt_dash.net import url_for


@pytest.mark.parametrize("run_id", ["lr=3e-4+wd", "a b&c=d", "50%", "ü#x?y", "plain-run_1"])
def test_a_printed_url_opens_the_run_it_names(run_id):
    url = url_for("127.0.0.1", 8050, run_id)
    assert parse_qs(urlsplit(url).query) == {"run": [run_id]}, "the page reads ?run= with parse_qs"


def test_the_run_id_is_quoted_and_a_url_without_a_run_has_no_query():
    assert url_for("127.0.0.1", 8050, "lr=3e-4+wd") == "http://127.0.0.1:8050/?run=lr%3D3e-4%2Bwd"
    assert url_for("::1", 8051) == "http://[::1]:8051/"
