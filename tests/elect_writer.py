#!/usr/bin/env python3
"""The leader's work in the fencing tests of `tender elect`: run as `tender elect --exec`, it
writes to the checker store (elect_store.py) with its term's token, in a loop, until stopped.

  tender elect ... --exec -- python3 elect_writer.py http://store:8080
"""
import os
import sys
import time
import urllib.error
import urllib.request

url = sys.argv[1].rstrip("/")
token = os.environ["TENDER_ELECT_TOKEN"]
who = os.environ["TENDER_ELECT_ID"]
target = "%s/write?token=%s&id=%s" % (url, token, who)
while True:
    try:
        request = urllib.request.Request(target, data=b"", method="POST")
        urllib.request.urlopen(request, timeout=1).read()
    except (urllib.error.URLError, OSError):
        pass  # refused (409), or the store is out of reach: carry on, as an app would
    time.sleep(0.02)
