"""Writes cofacts_factcheck_ham.jsonl: 5,000 Cofacts fact-check replies (CC0, 2019 snapshot) as spam-0 / abuse-0 rows labelled by
provenance, not by reading: volunteer editors' replies are not ads (600 read by hand in ../raw/cofacts_factcheck.jsonl: 0 ads,
0 abuse, 3 unsure). Seeded (random.Random(39)); the read rows are left out.

    python bench/labels/bulk/make_factcheck_ham.py ../shared/data/real
"""

import csv
import io
import json
import random
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(root: str) -> None:
    with zipfile.ZipFile(Path(root) / "cofacts_replies_2019/replies.csv.zip") as z:
        rows = list(csv.DictReader(io.StringIO(z.read("replies.csv").decode("utf-8"))))
    read = {json.loads(line)["ref"].split("#", 1)[1] for line in open(HERE.parent / "raw/cofacts_factcheck.jsonl", encoding="utf-8")}
    ids = [r["id"] for r in rows if r["id"] not in read and len(r["text"].strip()) >= 10]
    picked = sorted(random.Random(39).sample(ids, 5000), key=ids.index)
    with open(HERE / "cofacts_factcheck_ham.jsonl", "w", encoding="utf-8") as out:
        for i in picked:
            out.write(json.dumps({"ref": f"cofacts_replies_2019/replies.csv.zip#{i}", "spam": 0, "abuse": 0,
                                  "type": "factcheck", "origin": "real", "label_source": "provenance"}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
