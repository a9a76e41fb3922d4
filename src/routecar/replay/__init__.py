"""`routecar replay`: re-decide logged requests under another config, sending nothing upstream.

rows.py streams the route log, inputs.py turns a row into the router's input (or says why it
cannot be judged), health.py and budgets.py rebuild the state the router and the budget gate
saw at each row's time, engine.py runs the real Router over it, report.py adds up the results
and render.py prints them.
"""
