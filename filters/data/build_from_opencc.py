"""Rebuild the OpenCC-derived tables in this folder from OpenCC's dictionary sources (Apache-2.0).

    pip download --no-deps --no-binary :all: opencc==1.4.2 && tar xzf opencc-1.4.2.tar.gz
    python filters/data/build_from_opencc.py opencc-1.4.2/data/dictionary

Writes:
  hant_only.txt  Han characters that exist only in Traditional writing: keys of TSCharacters whose
                 Simplified form differs and that are not themselves listed as a Simplified form.
  hans_only.txt  Han characters that exist only in Simplified writing: keys of STCharacters that are not
                 among their own Traditional candidates (so 台/干/后/只/里, valid in both, are excluded), nor
                 Taiwan standard forms from TWVariants (群, 著).
  region_phrases_opencc.tsv  mainland phrase (key of TWPhrases) -> cn, Taiwan phrase (its values) -> tw.
"""

import sys
from pathlib import Path

HERE = Path(__file__).parent


def entries(path: Path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, values = line.split("\t", 1)
            yield key, values.split()


def main(dictionary: Path) -> None:
    st = dict(entries(dictionary / "STCharacters.txt"))
    ts = dict(entries(dictionary / "TSCharacters.txt"))
    simplified_forms = {v for vals in ts.values() for v in vals}
    # Taiwan's standard forms (群 for 羣, 裡 for 裏, 著 for 着) are Traditional in Taiwan even where OpenCC's
    # generic Traditional uses another variant
    taiwan_forms = {v for _, vals in entries(dictionary / "TWVariants.txt") for v in vals}
    traditional_forms = {v for vals in st.values() for v in vals} | taiwan_forms
    hant = sorted(k for k, vals in ts.items() if len(k) == 1 and k not in vals and k not in st and k not in simplified_forms)
    hans = sorted(k for k, vals in st.items() if len(k) == 1 and k not in vals and k not in ts and k not in traditional_forms)
    (HERE / "hant_only.txt").write_text("".join(hant) + "\n", encoding="utf-8")
    (HERE / "hans_only.txt").write_text("".join(hans) + "\n", encoding="utf-8")
    rows = {}
    for key, vals in entries(dictionary / "TWPhrases.txt"):
        if len(key) >= 2 and key not in vals:
            rows.setdefault(key, "cn")
            for v in vals:
                if len(v) >= 2:
                    rows.setdefault(v, "tw")
    with open(HERE / "region_phrases_opencc.tsv", "w", encoding="utf-8") as f:
        f.write("# phrase\tregion  (from OpenCC 1.4.2 TWPhrases.txt, Apache-2.0)\n")
        for phrase, region in sorted(rows.items()):
            f.write(f"{phrase}\t{region}\n")
    print(f"hant_only={len(hant)} hans_only={len(hans)} phrases={len(rows)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
