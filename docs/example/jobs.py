"""The example of the README's "Output formats": one finding, fixable."""

import threading


def fetch(url):
    print("fetching", url)


def start(url):
    worker = threading.Thread(target=fetch, args=(url))
    worker.start()
    worker.join()
