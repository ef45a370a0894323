"""The web API's description shared by its two adapters (the Jupyter server's REST handlers
and the Lambda functions): ``operations`` is the one table of what the API offers."""
