// The staff console in headless Chromium (Debian's `chromium`, driven by playwright-core; no
// browser download), against a demo server: a department officer and the city bureau take a
// credit-repair application from submitted to completed through the pages; the entry leaves the
// public list and the targets page changes; an import with bad rows shows them in a table, the
// corrected file lands. Run by `.ci/browser.sh`.
//
//   CONSOLE_URL   the server (default http://127.0.0.1:18790)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//   SCREENSHOTS   a directory to save screenshots of the main pages in (optional)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.CONSOLE_URL ?? 'http://127.0.0.1:18790';
const shots = process.env.SCREENSHOTS;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const desktop = { viewport: { width: 1366, height: 768 }, locale: 'zh-CN' };

/** A screenshot of the whole page, or of the first screen only for long lists (`top`). */
async function shot(page, name, top = false) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: !top });
}

async function login(user, options = desktop) {
  const page = await (await browser.newContext(options)).newPage();
  await page.goto(`${base}/console/login`);
  await page.getByLabel('用户名').fill(user);
  await page.getByLabel('密码').fill(`${user}-pass`);
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(`${base}/console/`);
  return page;
}

const pdfDir = mkdtempSync(join(tmpdir(), 'documents-'));

/** Prints the page to an A4 PDF as a user would; its page count and text as poppler reads them
 * (`pdfinfo`, `pdftotext`; whitespace removed, since CJK text comes out spaced). */
async function printed(page, name) {
  const file = join(pdfDir, `${name}.pdf`);
  await page.pdf({ path: file, format: 'A4' });
  const pages = Number(execFileSync('pdfinfo', [file]).toString().match(/^Pages:\s+(\d+)/m)[1]);
  const text = execFileSync('pdftotext', [file, '-']).toString().replace(/\s+/g, '');
  return { pages, text };
}

/** Asserts a printed document: exactly one A4 page holding every text. */
async function onePage(page, name, texts) {
  const { pages, text } = await printed(page, name);
  assert.equal(pages, 1, `${name} prints on one page`);
  for (const t of texts) assert.ok(text.includes(t.replace(/\s+/g, '')), `${name}: ${t} missing in ${text}`);
  return text;
}

async function publicBlackEntries() {
  const res = await fetch(`${base}/api/v1/public/list-entries?list_type=black`);
  assert.equal(res.status, 200);
  return (await res.json()).total;
}

/** The numerator / denominator cell of the whole city's list-coverage row. */
async function coverage(page) {
  await page.goto(`${base}/console/targets`);
  const row = page.locator('tbody tr', { hasText: '红黑名单数量（覆盖率）' }).first();
  return row.locator('td').nth(1).innerText();
}

try {
  // A wrong password stays on the form with the reason.
  const stranger = await (await browser.newContext(desktop)).newPage();
  await stranger.goto(`${base}/console/login`);
  await shot(stranger, 'login');
  await stranger.getByLabel('用户名').fill('demo-scjg');
  await stranger.getByLabel('密码').fill('wrong');
  await stranger.getByRole('button', { name: '登录' }).click();
  await stranger.getByText('用户名或密码错误。').waitFor();

  const bureau = await login('demo-city-bureau');
  const coverageBefore = await coverage(bureau);
  await shot(bureau, 'targets');
  const listedBefore = await publicBlackEntries();

  // The department officer (市市场监督管理局): the work bench, then application 1.
  const officer = await login('demo-scjg');
  assert.equal(await officer.getByRole('link', { name: '年度目标' }).count(), 0);
  await shot(officer, 'workbench');
  await officer.getByRole('link', { name: '1', exact: true }).click();
  await officer.waitForURL(`${base}/console/repairs/1`);
  await officer.getByText('已提交，待受理').first().waitFor();
  const subjectCode = (await officer.locator('.facts dd').nth(2).innerText()).match(/（(\w{18})）/)[1];
  await shot(officer, 'repair-review');
  for (const [step, comment] of [['受理', ''], ['同意修复', '材料齐全，同意修复'], ['报送市级', '']]) {
    if (comment) await officer.getByLabel(`${step}意见`).fill(comment);
    await officer.getByRole('button', { name: step, exact: true }).click();
    await officer.waitForURL(/done=/);
    await officer.getByText(`已${step}。`).waitFor();
  }
  assert.equal(await officer.getByRole('button', { name: '确认修复' }).count(), 0);

  // The city bureau confirms; sending back without reasons is not even submitted by the browser.
  await bureau.goto(`${base}/console/repairs/1`);
  await bureau.getByRole('button', { name: '退回部门' }).click();
  assert.equal(bureau.url(), `${base}/console/repairs/1`);
  await bureau.getByRole('button', { name: '确认修复' }).click();
  await bureau.waitForURL(/done=confirm/);
  await bureau.getByText('已完成修复').first().waitFor();
  await shot(bureau, 'repair-completed');

  assert.equal(await publicBlackEntries(), listedBefore - 1, 'the entry left the public list');
  const coverageAfter = await coverage(bureau);
  assert.notEqual(coverageAfter, coverageBefore, 'the targets page changed');

  // 主体查询: the repaired subject by its code, then its page with the repair in the timeline.
  await officer.getByRole('link', { name: '主体查询' }).click();
  await officer.getByLabel('统一社会信用代码、身份证号或名称').fill(subjectCode);
  await officer.getByRole('button', { name: '查询' }).click();
  await officer.getByRole('link', { name: '通化县永信建材有限公司' }).click();
  await officer.waitForURL(`${base}/console/subjects/${subjectCode}`);
  await officer.getByText('信用修复后移出').first().waitFor();
  await shot(officer, 'subject');

  // 红黑名单导入: a file with bad rows shows every one in a table and writes nothing; the corrected
  // file, published at once, adds one entry to the public list.
  const header = '名单类型*,主体代码*,主体类型,主体名称*,清单事项编码*,认定文书号*,认定日期*,事实*,告知日期,陈述申辩情况';
  const day = new Date(Date.now() - 3 * 86400000).toISOString().slice(0, 10);
  const notice = new Date(Date.now() - 10 * 86400000).toISOString().slice(0, 10);
  const good = `黑名单,91220582MA5G33YTA8,企业,集安医药有限公司,SJ-HEI-02,通市监〔2026〕900号,${day},未按期公示年度报告,${notice},未提出陈述申辩`;
  const bad = [header, good.replace('91220582MA5G33YTA8', '91220582MA5G33YTA9'),
    `紫名单,91220582MA5G33YTA8,企业,集安医药有限公司,SJ-HEI-02,通市监〔2026〕901号,${day},事实,${notice},未提出陈述申辩`,
    `黑名单,91220582MA5G33YTA8,企业,集安医药有限公司,NO-SUCH,通市监〔2026〕902号,2026-13-01,事实,${notice},未提出陈述申辩`].join('\n');
  const publicBefore = await publicBlackEntries();
  await officer.getByRole('link', { name: '红黑名单' }).click();
  await officer.getByText('导出当前筛选结果（Excel）').waitFor();
  await shot(officer, 'entries', true);
  await officer.getByRole('link', { name: '导入名单' }).click();
  await officer.getByLabel('选择文件（.xlsx 或 .csv，不超过 32 MB）')
    .setInputFiles({ name: '名单.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  await officer.getByRole('button', { name: '上传并导入' }).click();
  await officer.getByText('文件中有 3 处错误，未写入任何数据').waitFor();
  const errorRows = officer.locator('table.import-errors tbody tr');
  assert.equal(await errorRows.count(), 3);
  assert.match(await errorRows.nth(0).innerText(), /^2\s+主体代码\s+91220582MA5G33YTA9\s+代码校验位错误/);
  assert.match(await errorRows.nth(1).innerText(), /^3\s+名单类型\s+紫名单/);
  await shot(officer, 'import-errors');
  assert.equal(await publicBlackEntries(), publicBefore, 'nothing written');
  await officer.getByLabel('选择文件（.xlsx 或 .csv，不超过 32 MB）')
    .setInputFiles({ name: '名单.csv', mimeType: 'text/csv', buffer: Buffer.from([header, good].join('\n')) });
  await officer.getByLabel('导入后立即发布（否则为草稿）').check();
  await officer.getByRole('button', { name: '上传并导入' }).click();
  await officer.getByText('导入完成：共 1 行，新增 1 条（其中已发布 1 条）').waitFor();
  assert.equal(await publicBlackEntries(), publicBefore + 1, 'the imported entry is public');

  // The monthly trend from the targets page; the scorecards; the cases.
  await bureau.goto(`${base}/console/targets`);
  await bureau.getByRole('link', { name: '月度趋势图' }).click();
  await bureau.locator('figure.trend svg path').first().waitFor();
  await shot(bureau, 'targets-trend');
  await bureau.getByRole('link', { name: '部门评分' }).click();
  await bureau.getByText('未计量').first().waitFor();
  await shot(bureau, 'scorecards', true);
  await officer.getByRole('link', { name: '联合奖惩案例' }).click();
  await officer.getByRole('link', { name: '登记案例' }).waitFor();
  await shot(officer, 'cases', true);

  // Documents ready to print (文书), each one A4 page. The repair documents of application 1 from
  // its recorded steps: 受理通知书 (by the officer) and 信用修复决定书 (after the bureau's confirmation).
  const year = new Date(Date.now() + 8 * 3600000).getUTCFullYear();
  await officer.goto(`${base}/console/repairs/1`);
  await officer.getByRole('button', { name: '打印信用修复受理通知书' }).click();
  await officer.waitForURL(/\/console\/documents\/\d+$/);
  const acceptedAt = officer.url();
  await onePage(officer, 'repair-accepted', ['信用修复受理通知书', `通市场修受〔${year}〕1号`, '予以受理', '市市场监督管理局']);
  await shot(officer, 'document-repair-accepted');
  await officer.goto(`${base}/console/repairs/1`);
  await officer.getByRole('button', { name: '打印信用修复决定书' }).click();
  await officer.waitForURL(/\/console\/documents\/\d+$/);
  await onePage(officer, 'repair-decision', ['信用修复决定书', `通市场修决〔${year}〕1号`, '予以信用修复']);
  // A reprint is the stored document, same number.
  await officer.goto(`${base}/console/repairs/1`);
  await officer.getByRole('button', { name: '打印信用修复受理通知书' }).click();
  await officer.waitForURL(acceptedAt);

  // 信用核查结果单: a check made by the officer's department (through the API) of the subject
  // just imported onto the black list, printed from its receipt page; its QR code's page verifies.
  const apiLogin = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'demo-scjg', password: 'demo-scjg-pass' }),
  });
  const token = (await apiLogin.json()).access_token;
  const checked = await fetch(`${base}/api/v1/credit-checks`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ subject_code: '91220582MA5G33YTA8', field: 'administrative_licensing', reference: 'XK-2026-0815' }),
  });
  assert.equal(checked.status, 201);
  const checkId = (await checked.json()).check_id;
  await officer.goto(`${base}/console/checks/${checkId}`);
  await officer.getByRole('button', { name: '打印信用核查结果单' }).click();
  await officer.waitForURL(/\/console\/documents\/\d+$/);
  await officer.locator('.qr svg').waitFor();
  const verifyUrl = await officer.locator('.proof code').nth(1).innerText();
  const hash = await officer.locator('.proof code').nth(0).innerText();
  await onePage(officer, 'check-result', ['信用核查结果单', `通市场核〔${year}〕1号`, '集安医药有限公司',
    'XK-2026-0815', `核查记录编号：${checkId}`, hash]);
  await shot(officer, 'document-check-result');
  const verified = await fetch(verifyUrl);
  assert.equal(verified.status, 200);
  assert.match(await verified.text(), /核验通过/);
  const forged = await fetch(verifyUrl.replace(/.$/, (c) => (c === '0' ? '1' : '0')));
  assert.equal(forged.status, 404);
  assert.match(await forged.text(), /不存在或已被篡改/);

  // 告知书 before black-listing, for a draft made by an import that does not publish.
  const draftRow = `黑名单,${subjectCode},企业,通化县永信建材有限公司,SJ-HEI-02,通市监〔2026〕903号,${day},未按期公示年度报告,${notice},未提出陈述申辩`;
  await officer.goto(`${base}/console/entries/import`);
  await officer.getByLabel('选择文件（.xlsx 或 .csv，不超过 32 MB）')
    .setInputFiles({ name: '草稿.csv', mimeType: 'text/csv', buffer: Buffer.from([header, draftRow].join('\n')) });
  await officer.getByRole('button', { name: '上传并导入' }).click();
  await officer.getByText('导入完成：共 1 行，新增 1 条').waitFor();
  await officer.goto(`${base}/console/entries?status=draft`);
  await officer.locator('tr', { hasText: '通市监〔2026〕903号' }).getByRole('button', { name: '出具告知书' }).click();
  await officer.waitForURL(/\/console\/documents\/\d+$/);
  await onePage(officer, 'listing-notice', ['失信主体认定告知书', `通市场失告〔${year}〕1号`, '未按期公示年度报告',
    '陈述、申辩', '五个工作日']);
  await shot(officer, 'document-listing-notice');

  // A narrow screen still shows the targets.
  const phone = await login('demo-city-bureau', { viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
  await phone.goto(`${base}/console/targets`);
  await phone.getByText('信用修复培训率').first().waitFor();
  await shot(phone, 'targets-narrow');

  // Logout ends the session (from the work bench: a document page has no console navigation).
  await officer.goto(`${base}/console/`);
  await officer.getByRole('button', { name: '退出登录' }).click();
  await officer.waitForURL(`${base}/console/login`);
  await officer.goto(`${base}/console/`);
  assert.equal(officer.url(), `${base}/console/login`);
  console.log(`browser tests passed (coverage ${coverageBefore} → ${coverageAfter})`);
} finally {
  await browser.close();
  rmSync(pdfDir, { recursive: true, force: true });
}
