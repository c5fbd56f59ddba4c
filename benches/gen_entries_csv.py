#!/usr/bin/env python3
"""Writes an import file of N black-list rows with valid, distinct unified social credit codes.

Usage: gen_entries_csv.py N SCOPE_CODE > entries.csv
"""
import datetime
import sys

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
DIVISIONS = ["220502", "220503", "220521", "220523", "220524", "220581", "220582"]


def uscc(n: int) -> str:
    tail = ""
    for _ in range(7):
        tail = ALPHABET[n % 31] + tail
        n //= 31
    prefix = "91" + DIVISIONS[n % len(DIVISIONS)] + "MA" + tail
    total = sum(ALPHABET.index(c) * w for c, w in zip(prefix, WEIGHTS))
    return prefix + ALPHABET[(31 - total % 31) % 31]


def main() -> None:
    n, scope = int(sys.argv[1]), sys.argv[2]
    day = (datetime.date.today() - datetime.timedelta(days=30)).isoformat()
    out = sys.stdout
    out.write("名单类型*,主体代码*,主体类型,主体名称*,法定代表人,法定代表人身份证号,所属区域代码,认定部门编号,"
              "清单事项编码*,认定文书号*,认定日期*,有效期起,有效期止,事实*,来源\n")
    for i in range(n):
        out.write(f"黑名单,{uscc(i)},企业,通化市测试商贸有限公司{i},张三,,,,{scope},通税罚〔2026〕{i}号,{day},,,虚开发票,本地\n")


if __name__ == "__main__":
    main()
