"""The benchmark: qwsup against the article's plain loop, side by side (python -m bench)."""
