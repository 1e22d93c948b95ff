#!/usr/bin/env python3
"""Writes reports/data/questions.jsonl: varied analysis questions for `loadgen --bodies`.

One JSON body per line, {"query": "..."} as POST /analyze takes it (server/src/routes/analyze.rs:
at most 4000 characters). Each question names one to five tickers the mock Trading API knows
(mocks/src/trading/data.rs) and runs from a short line to a paragraph; some ask for history
("trend", "days") or the market, which the mock model answers with more tool calls. Seeded, so
`python3 scripts/make_questions.py` reproduces the committed file byte for byte.

Usage: scripts/make_questions.py [--count N] [--seed S] [--out FILE]
"""

import argparse
import json
import random
import sys

# The symbols mock Trading API knows. "V" is left out: a one-letter ticker reads as a word.
TICKERS = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "JNJ", "WMT", "XOM", "PG",
    "MA", "HD", "KO", "PEP", "NFLX", "AMD", "INTC", "DIS", "BA", "IBM", "ORCL", "CSCO", "CRM",
    "SPY", "QQQ",
]

# How often a question names 1..5 tickers: most name one or two, as users do.
TICKER_WEIGHTS = [40, 25, 15, 12, 8]

SHORT = [
    "Should I buy {t}?",
    "Is {t} a good buy right now?",
    "What do you think of {t}?",
    "Quick take on {t} please.",
    "Compare {t}.",
    "Which is the better buy: {t}?",
    "How is {t} doing?",
    "Give me the current price of {t}.",
]

HISTORY = [
    "How has {t} performed over the last {d} days?",
    "Show me the price trend of {t} over the past {d} days.",
    "What is the recent history of {t}, say the last {d} days?",
]

MARKET = [
    "Is the market open, and how are {t} trading?",
    "Given where the market is today, should I add {t}?",
]

CONTEXT = [
    "I am a long-term investor with a moderate appetite for risk.",
    "My portfolio is mostly index funds and I want a little more growth.",
    "I hold some of these already and wonder whether to add or trim.",
    "I care about dividends more than about short-term price moves.",
    "I read that rates may fall next year and want to position for that.",
    "My horizon is about five years and I can stomach some volatility.",
    "I am worried about concentration in large technology names.",
    "I would like to understand the valuation before I decide anything.",
    "Please keep the answer practical; I am not a professional.",
    "I need to rebalance at the end of the quarter.",
    "I am comparing these against simply holding cash for a while.",
    "Consider how each one held up in the last downturn.",
]

ASKS = [
    "What would you do in my place?",
    "Please weigh the risks against the upside.",
    "Summarise the key numbers and give a recommendation.",
    "Tell me which one you would pick and why.",
    "Explain your reasoning step by step.",
]


def join_tickers(ts):
    if len(ts) == 1:
        return ts[0]
    return ", ".join(ts[:-1]) + " and " + ts[-1]


def question(rng):
    n = rng.choices(range(1, 6), weights=TICKER_WEIGHTS)[0]
    ts = join_tickers(rng.sample(TICKERS, n))
    kind = rng.random()
    if kind < 0.25:
        first = rng.choice(HISTORY).format(t=ts, d=rng.choice([5, 10, 30, 60, 90]))
    elif kind < 0.35:
        first = rng.choice(MARKET).format(t=ts)
    else:
        first = rng.choice(SHORT).format(t=ts)
    # Length: about a third one line, the rest one to several sentences of context.
    extra = rng.choices([0, 1, 2, 4, 7], weights=[35, 20, 20, 15, 10])[0]
    parts = [first] + rng.sample(CONTEXT, extra)
    if extra:
        parts.append(rng.choice(ASKS))
    return " ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=240)
    ap.add_argument("--seed", type=int, default=27)
    ap.add_argument("--out", default="reports/data/questions.jsonl")
    a = ap.parse_args()
    if a.count < 1:
        sys.exit("error: --count must be at least 1")
    rng = random.Random(a.seed)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for _ in range(a.count):
            q = question(rng)
            assert len(q) <= 4000, q
            f.write(json.dumps({"query": q}, ensure_ascii=False) + "\n")
    print(f"wrote {a.count} questions to {a.out}")


if __name__ == "__main__":
    main()
