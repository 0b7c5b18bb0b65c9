"""Serve the chat in the browser: the same as `qa serve`, with the same options.

    python app.py [--host 127.0.0.1] [--port 7860] [--corpus corpus/] [--index index/] [--feedback feedback.jsonl]

The app itself lives in ``qa.app``; ``qa serve --help`` lists every option.
"""

import sys

from qa.cli import main

if __name__ == "__main__":
    main(["serve", *sys.argv[1:]])
