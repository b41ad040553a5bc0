"""`genai-autoscaler`, the command line: the parser in `main`, the commands in `commands` and `simulate`."""
