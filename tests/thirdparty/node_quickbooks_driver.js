// Drive node-quickbooks (mcohen01, npm), unmodified, against the QBO emulator; print one JSON object of
// check name -> {ok, detail}. Run by tests/thirdparty/test_node_quickbooks.py:
//   node node_quickbooks_driver.js CONFIG.json
// CONFIG: {node_modules, api_base, token_url, userinfo_url, realm, client_id, client_secret, access_token,
//          refresh_token, ids: {customer, invoice}}
// node-quickbooks is pointed at the emulator only through its own static settings (V3_ENDPOINT_BASE_URL,
// TOKEN_URL, USER_INFO_URL), as one points it at the sandbox; its code is not changed.
'use strict';

const fs = require('fs');
const path = require('path');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const QuickBooks = require(path.join(config.node_modules, 'node-quickbooks'));

QuickBooks.V3_ENDPOINT_BASE_URL = config.api_base + '/company/';
QuickBooks.TOKEN_URL = config.token_url;
QuickBooks.USER_INFO_URL = config.userinfo_url;

const qbo = new QuickBooks(config.client_id, config.client_secret, config.access_token, false, config.realm,
  true /* useSandbox: take V3_ENDPOINT_BASE_URL as it is */, false, 75, '2.0', config.refresh_token);

// promisify a node-quickbooks method (callback(err, body, ...)); a Fault body rejects with that body
function call(method, ...args) {
  return new Promise((resolve, reject) => {
    qbo[method](...args, (err, body) => {
      if (!err) return resolve(body);
      // create/update hand back the axios error only: its response holds QBO's Fault body
      const fault = body || (err.response && err.response.data);
      return reject(fault && (fault.Fault || fault.fault) ? fault : err);
    });
  });
}

function describe(err) {
  if (err && err.Fault) return JSON.stringify(err.Fault).slice(0, 400);
  if (err && err.fault) return JSON.stringify(err.fault).slice(0, 400);
  if (err instanceof Error) return err.message.slice(0, 400);
  return JSON.stringify(err).slice(0, 400);
}

function expect(condition, detail) {
  if (!condition) throw new Error(detail);
}

function faultCode(err) {
  const fault = err && (err.Fault || err.fault);
  const errors = fault && (fault.Error || fault.error);
  return errors && errors.length ? String(errors[0].code) : null;
}

function unique(prefix) {
  return prefix + ' ' + Math.random().toString(16).slice(2, 12);
}

function line(amount, extra) {
  return Object.assign({ Amount: amount, DetailType: 'SalesItemLineDetail',
    SalesItemLineDetail: { ItemRef: { value: '1' } } }, extra || {});
}

const checks = [];
function check(name, fn) { checks.push([name, fn]); }

check('refresh rotates the tokens', async () => {
  const before = qbo.refreshToken;
  const answer = await call('refreshAccessToken');
  expect(answer.access_token && qbo.refreshToken !== before, 'no new refresh token');
});

check('companyinfo', async () => {
  const info = await call('getCompanyInfo', config.realm);
  expect(info.CompanyName, 'no CompanyName');
});

const FINDS = ['Accounts', 'Attachables', 'Bills', 'BillPayments', 'Budgets', 'Classes', 'CompanyCurrencies',
  'CreditMemos', 'Customers', 'CustomerTypes', 'Departments', 'Deposits', 'Employees', 'Estimates', 'Invoices',
  'Items', 'JournalEntries', 'Payments', 'PaymentMethods', 'Purchases', 'PurchaseOrders', 'RefundReceipts',
  'SalesReceipts', 'TaxAgencies', 'TaxCodes', 'TaxRates', 'Terms', 'TimeActivities', 'Transfers', 'Vendors',
  'VendorCredits'];
for (const plural of FINDS) {
  check('find' + plural, async () => {
    const body = await call('find' + plural, { fetchAll: true });
    expect(body && typeof body.QueryResponse === 'object', 'no QueryResponse');
  });
}

check('query with != (Balance != 0)', async () => {
  const body = await call('findInvoices', [{ field: 'Balance', value: '0', operator: '!=' }]);
  const rows = body.QueryResponse.Invoice || [];
  expect(rows.length > 0, 'no open invoice found');
  expect(rows.every((r) => Number(r.Balance) !== 0), 'a paid invoice came back');
});

check('query on Account.AccountSubType', async () => {
  const body = await call('findAccounts', { AccountSubType: 'UndepositedFunds' });
  const rows = body.QueryResponse.Account || [];
  expect(rows.length === 1 && rows[0].Name === 'Undeposited Funds', JSON.stringify(rows).slice(0, 300));
});

check('preferences read and update', async () => {
  const prefs = await call('getPreferences');
  for (const section of ['AccountingInfoPrefs', 'SalesFormsPrefs', 'VendorAndPurchasesPrefs', 'EmailMessagesPrefs',
    'ReportPrefs', 'TaxPrefs', 'CurrencyPrefs']) {
    expect(prefs[section], 'Preferences lacks ' + section);
  }
  const flipped = !prefs.SalesFormsPrefs.CustomTxnNumbers;
  const updated = await call('updatePreferences', { Id: prefs.Id, SyncToken: prefs.SyncToken, sparse: true,
    SalesFormsPrefs: { CustomTxnNumbers: flipped } });
  expect(updated.SalesFormsPrefs.CustomTxnNumbers === flipped, 'update not kept');
});

for (const [entity, body] of [['Term', { DueDays: 45 }], ['PaymentMethod', {}], ['Class', {}], ['Department', {}]]) {
  check('create and get ' + entity, async () => {
    const name = unique(entity);
    const created = await call('create' + entity, Object.assign({ Name: name }, body));
    const read = await call('get' + entity, created.Id);
    expect(read.Name === name, 'read back ' + read.Name);
  });
}

check('credit memo applied through a payment', async () => {
  const customer = await call('createCustomer', { DisplayName: unique('Node') });
  const invoice = await call('createInvoice', { CustomerRef: { value: customer.Id }, Line: [line(80)] });
  const memo = await call('createCreditMemo', { CustomerRef: { value: customer.Id }, Line: [line(30)] });
  await call('createPayment', { CustomerRef: { value: customer.Id }, TotalAmt: 0, Line: [
    { Amount: 30, LinkedTxn: [{ TxnId: invoice.Id, TxnType: 'Invoice' }] },
    { Amount: 30, LinkedTxn: [{ TxnId: memo.Id, TxnType: 'CreditMemo' }] }] });
  const after = await call('getInvoice', invoice.Id);
  expect(Number(after.Balance) === 50, 'invoice balance ' + after.Balance);
  const credit = await call('getCreditMemo', memo.Id);
  expect(Number(credit.Balance) === 0, 'credit memo balance ' + credit.Balance);
});

check('refund receipt from Undeposited Funds', async () => {
  const funds = (await call('findAccounts', { Name: 'Undeposited Funds' })).QueryResponse.Account[0];
  const refund = await call('createRefundReceipt', { CustomerRef: { value: config.ids.customer }, Line: [line(12.5)],
    DepositToAccountRef: { value: funds.Id } });
  expect(Number(refund.TotalAmt) === 12.5, 'TotalAmt ' + refund.TotalAmt);
  const read = await call('getRefundReceipt', refund.Id);
  expect(read.Id === refund.Id, 'not read back');
});

check('invoice with a term: SalesTermRef kept, DueDate from the term', async () => {
  const terms = (await call('findTerms', { Name: 'Net 15' })).QueryResponse.Term || [];
  expect(terms.length === 1, 'no Net 15 term');
  const invoice = await call('createInvoice', { CustomerRef: { value: config.ids.customer }, TxnDate: '2026-11-02',
    SalesTermRef: { value: terms[0].Id }, Line: [line(40)] });
  expect(invoice.SalesTermRef && invoice.SalesTermRef.value === terms[0].Id, 'SalesTermRef dropped');
  expect(invoice.DueDate === '2026-11-17', 'DueDate ' + invoice.DueDate);
});

check('invoice PDF', async () => {
  const pdf = await call('getInvoicePdf', config.ids.invoice);
  const bytes = Buffer.from(pdf);
  expect(bytes.subarray(0, 5).toString('latin1') === '%PDF-', 'not a PDF: ' + bytes.subarray(0, 40).toString('latin1'));
});

check('allowDuplicateDocNum', async () => {
  const number = 'N' + Math.random().toString(16).slice(2, 9);
  await call('createInvoice', { CustomerRef: { value: config.ids.customer }, DocNumber: number, Line: [line(5)] });
  let refused = null;
  try {
    await call('createInvoice', { CustomerRef: { value: config.ids.customer }, DocNumber: number, Line: [line(5)] });
  } catch (err) { refused = faultCode(err); }
  expect(refused === '6140', 'duplicate DocNumber without the option: ' + refused);
  const twin = await call('createInvoice', { CustomerRef: { value: config.ids.customer }, DocNumber: number,
    Line: [line(5)], allowDuplicateDocNum: true });
  expect(twin.DocNumber === number, 'DocNumber ' + twin.DocNumber);
});

check('PaymentMethodRef to a missing method is 2500', async () => {
  let code = null;
  try {
    await call('createPayment', { CustomerRef: { value: config.ids.customer }, TotalAmt: 1,
      PaymentMethodRef: { value: '987654' } });
  } catch (err) { code = faultCode(err); }
  expect(code === '2500', 'fault code ' + code);
});

for (const report of ['ProfitAndLoss', 'BalanceSheet', 'AgedReceivables', 'AgedReceivableDetail', 'CustomerBalance']) {
  check('report' + report, async () => {
    const body = await call('report' + report, { date_macro: 'This Fiscal Year' });
    expect(body.Header && body.Header.ReportName === report, 'Header ' + JSON.stringify(body.Header));
    expect(body.Columns && Array.isArray(body.Columns.Column), 'no Columns.Column');
    expect(body.Rows && typeof body.Rows === 'object', 'no Rows');
  });
}

check('CDC naming the new entities', async () => {
  const since = new Date(Date.now() - 24 * 3600 * 1000);
  const body = await call('changeDataCapture', ['Estimate', 'Invoice', 'CreditMemo', 'RefundReceipt', 'Term',
    'PaymentMethod', 'Class', 'Department'], since);
  expect(Array.isArray(body.CDCResponse), 'no CDCResponse');
  const parts = body.CDCResponse[0].QueryResponse;
  expect(parts.some((p) => (p.CreditMemo || []).length > 0), 'the new credit memo is not in the CDC');
});

check('batch of queries on the new entities', async () => {
  const items = ['TaxCode', 'Term', 'PaymentMethod', 'Class', 'Department', 'Estimate', 'Bill']
    .map((e, i) => ({ bId: 'q' + i, Query: 'select * from ' + e }));
  const body = await call('batch', items);
  const faults = body.BatchItemResponse.filter((r) => r.Fault);
  expect(faults.length === 0, JSON.stringify(faults).slice(0, 300));
});

check('userinfo', async () => {
  const body = await call('getUserInfo');
  expect(body && body.sub, 'no sub: ' + JSON.stringify(body).slice(0, 200));
});

(async () => {
  const results = {};
  for (const [name, fn] of checks) {
    try {
      await fn();
      results[name] = { ok: true, detail: '' };
    } catch (err) {
      results[name] = { ok: false, detail: describe(err) };
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
})();
