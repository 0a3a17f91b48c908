"""The HTTP API for pipelines (django-ninja): thin views beside the admin and the commands.

Each view checks its permission (the token's user's, exactly as the admin
would), calls one service, writes what it changed to the admin history
under the token's name, and answers JSON. site.py builds the API and its
error answers, auth.py the tokens, endpoints.py the routes.
"""
