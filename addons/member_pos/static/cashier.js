/* This file is part of the member suite.  The COPYRIGHT file at the top
level of this repository contains the full copyright notices and license
terms.

The cashier page: plain JavaScript, served by trytond (routes.py). It talks
to the member_pos JSON API with the user application key of the cashier
and to the box agent of the till (card reads by long poll, printing). */
'use strict';
(function () {
  const DB = decodeURIComponent(location.pathname.split('/')[1]);
  const ROOT = '/' + encodeURIComponent(DB) + '/';
  const API = ROOT + 'member_pos/';
  const STORE = 'member_pos.' + DB + '.';
  const RETRIES = 8;
  // a keyboard-wedge scanner types faster than a person
  const SCAN_INTERVAL = 50;

  // English is the source; zh_CN translates it
  const ZH = {
    'Cashier': '收银台',
    'Agent offline': '代理程序离线',
    'Agent online': '代理程序在线',
    'Agent error': '代理程序异常',
    'Return': '退货',
    'Auto': '自动',
    'Settings': '设置',
    'Sign out': '退出登录',
    'Sign in': '登录',
    'Login': '用户名',
    'Waiting for validation of the key in the back office…':
      '等待后台验证密钥…',
    'Choose the sale point': '选择收银台',
    'Swipe, scan, card number or phone': '刷卡、扫码、卡号或手机号',
    'Identify': '识别',
    'Remove': '移除',
    'Search products': '搜索商品',
    'Total': '合计',
    'To pay': '待付',
    'Change': '找零',
    'Add': '添加',
    'Cancel': '取消',
    'Clear': '清空',
    'Post': '结账',
    'Retry': '重试',
    'Sale': '销售单',
    'Print receipt': '打印小票',
    'Print a copy': '打印副本',
    'New sale': '新销售单',
    'Refund': '退款',
    'Agent URL': '代理程序地址',
    'Agent key': '代理程序密钥',
    'Printer': '打印机',
    'Language': '语言',
    'Save': '保存',
    'PIN': '密码',
    'Discount {rate}%': '折扣 {rate}%',
    'Card {number}: {state}': '会员卡 {number}：{state}',
    '{name}: {available} available (worth {value})':
      '{name}：可用 {available}（价值 {value}）',
    'Points to spend ({available} available, {value} per point)':
      '使用积分（可用 {available}，每积分 {value}）',
    'Amount': '金额',
    'Amount ({available} available)': '金额（可用 {available}）',
    'Identify the member first': '请先识别会员',
    'Not enough {name}: {available} available, {asked} asked':
      '{name}不足：可用 {available}，需要 {asked}',
    'More than left to pay': '超过待付金额',
    'Enter a positive number': '请输入正数',
    'Posting…': '正在结账…',
    'Network problem: retrying… (attempt {n})': '网络问题：正在重试…（第 {n} 次）',
    'Not confirmed: press Retry': '未确认：请按重试',
    'A sale was not confirmed: retrying': '有一笔销售未确认：正在重试',
    'This key was already used for another sale: check the recent sales':
      '该幂等键已用于另一笔销售：请检查最近的销售',
    'Printing…': '正在打印…',
    'Printed': '已打印',
    'Queued on the printer': '已排队打印',
    'Printed by the server printer': '已由服务器打印机打印',
    'Print failed: {error}': '打印失败：{error}',
    'No agent configured': '未配置代理程序',
    'Points earned': '获得积分',
    'Points redeemed': '兑换积分',
    'Member': '会员',
    'Quantity to return': '退货数量',
    'Nothing to return': '未填写退货数量',
    'Member price': '会员价',
    'Top-up amount': '充值金额',
    'Sale number on the receipt': '小票上的销售单号',
    'Find': '查找',
    'No posted sale {number} at your sale points':
      '您的销售点没有已结账的销售单 {number}',
  };
  let language = 'en';

  function _(text, vars) {
    let result = (language === 'zh_CN' && ZH[text]) || text;
    for (const [name, value] of Object.entries(vars || {})) {
      result = result.split('{' + name + '}').join(value);
    }
    return result;
  }

  function load(name, fallback) {
    try {
      const value = localStorage.getItem(STORE + name);
      return value === null ? fallback : JSON.parse(value);
    } catch (e) {
      return fallback;
    }
  }

  function store(name, value) {
    if (value === null || value === undefined) {
      localStorage.removeItem(STORE + name);
    } else {
      localStorage.setItem(STORE + name, JSON.stringify(value));
    }
  }

  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === 'class') {
        node.className = value;
      } else if (key.startsWith('on')) {
        node.addEventListener(key.slice(2), value);
      } else if (key === 'dataset') {
        Object.assign(node.dataset, value);
      } else {
        node[key] = value;
      }
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    }
    return node;
  }

  // Exact decimals: BigInt scaled by 10^8, never floats for money
  const SCALE = 8;
  const ONE = 10n ** BigInt(SCALE);

  function dec(value) {
    const text = String(value === null || value === undefined ? '0' : value)
      .trim();
    const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
    if (!match || (!match[2] && !match[3])) {
      return null;
    }
    const fraction = (match[3] || '').slice(0, SCALE).padEnd(SCALE, '0');
    const result = BigInt(match[2] || '0') * ONE + BigInt(fraction);
    return match[1] ? -result : result;
  }

  function mul(a, b) {
    return (a * b) / ONE;
  }

  function round(value, digits, down) {
    const unit = 10n ** BigInt(SCALE - digits);
    const negative = value < 0n;
    let abs = negative ? -value : value;
    const rest = abs % unit;
    abs -= rest;
    if (!down && rest * 2n >= unit) {
      abs += unit;
    }
    return negative ? -abs : abs;
  }

  function str(value, digits) {
    const rounded = round(value, digits);
    const negative = rounded < 0n;
    const abs = negative ? -rounded : rounded;
    const whole = (abs / ONE).toString();
    let fraction = (abs % ONE).toString().padStart(SCALE, '0')
      .slice(0, digits);
    return (negative ? '-' : '') + whole + (digits ? '.' + fraction : '');
  }

  function plain(value) {
    // a decimal string without useless trailing zeros
    let text = String(value);
    if (text.includes('.')) {
      text = text.replace(/0+$/, '').replace(/\.$/, '');
    }
    return text;
  }

  const state = {
    key: load('key', null),
    login: load('login', ''),
    session: null,
    point: null,
    member: null,
    memberCode: null,
    cart: [],
    payments: [],
    method: null,
    clientKey: null,
    posting: false,
    lastSale: null,
    printed: false,
    recent: load('recent', []),
    // Sales found by their receipt number for a return
    found: [],
    products: [],
  };

  function settings() {
    return load('settings', {
      agentUrl: '', agentKey: '', printer: '', language: '',
    });
  }

  function money(value) {
    const digits = state.session ? state.session.currency.digits : 2;
    return str(value, digits);
  }

  // Banner and views

  function showError(message) {
    $('banner').className = '';
    $('banner-text').textContent = message;
    $('banner').hidden = false;
  }

  function showInfo(message) {
    showError(message);
    $('banner').className = 'info';
  }

  function hideBanner() {
    $('banner').hidden = true;
  }

  function show(view) {
    for (const section of document.querySelectorAll('.view')) {
      section.hidden = section.id !== 'view-' + view;
    }
    const signedIn = Boolean(state.session);
    $('btn-sign-out').hidden = !signedIn;
    $('btn-return-mode').hidden = !(signedIn && state.point);
    if (view === 'sale') {
      focusScan();
    }
  }

  function translatePage() {
    document.documentElement.lang = language === 'zh_CN' ? 'zh-CN' : 'en';
    for (const node of document.querySelectorAll('[data-t]')) {
      node.textContent = _(node.dataset.t);
    }
    for (const node of document.querySelectorAll('[data-tp]')) {
      node.placeholder = _(node.dataset.tp);
    }
    document.title = _('Cashier');
  }

  function chooseLanguage() {
    const wanted = settings().language
      || (state.session && state.session.user.language)
      || navigator.language || 'en';
    language = wanted.toLowerCase().startsWith('zh') ? 'zh_CN' : 'en';
    translatePage();
  }

  // Server API

  async function api(method, path, body, params) {
    let url = API + path;
    if (params) {
      url += '?' + new URLSearchParams(params).toString();
    }
    const options = {
      method: method,
      headers: {'Authorization': 'Bearer ' + state.key},
      cache: 'no-store',
    };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error(
        (data && (data.error || data.message))
        || (response.status + ' ' + response.statusText));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function retriable(error) {
    return error.status === undefined || error.status >= 500;
  }

  // Sign-in with a user application key validated in the back office

  async function signIn() {
    const login = $('sign-in-login').value.trim();
    if (!login) {
      return;
    }
    hideBanner();
    try {
      const response = await fetch(ROOT + 'user/application/', {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({user: login, application: 'member_pos'}),
      });
      if (!response.ok) {
        throw new Error(response.status + ' ' + response.statusText);
      }
      state.key = await response.json();
      state.login = login;
      store('key', state.key);
      store('login', login);
      waitForValidation();
    } catch (error) {
      showError(error.message);
    }
  }

  async function signOut() {
    if (state.key) {
      try {
        await fetch(ROOT + 'user/application/', {
          method: 'DELETE',
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({
            user: state.login, key: state.key, application: 'member_pos'}),
        });
      } catch (e) {
        // the key is forgotten here anyway
      }
    }
    state.key = null;
    state.session = null;
    state.point = null;
    store('key', null);
    resetSale();
    show('sign-in');
  }

  async function waitForValidation() {
    show('sign-in');
    $('sign-in-login').value = state.login || '';
    $('sign-in-waiting').hidden = false;
    while (state.key && !state.session) {
      try {
        state.session = await api('GET', 'session');
      } catch (error) {
        if (error.status !== 401) {
          showError(error.message);
        }
        await sleep(3000);
      }
    }
    $('sign-in-waiting').hidden = true;
    if (state.session) {
      started();
    }
  }

  function started() {
    hideBanner();
    chooseLanguage();
    $('user-name').textContent = state.session.user.name;
    const points = state.session.points;
    const saved = load('point', null);
    const point = points.find((p) => p.id === saved)
      || (points.length === 1 ? points[0] : null);
    if (point) {
      choosePoint(point);
    } else {
      const list = $('point-list');
      list.replaceChildren(...points.map((p) => el('button', {
        class: 'big', dataset: {point: p.id},
        onclick: () => choosePoint(p),
      }, p.name)));
      show('point');
    }
  }

  function choosePoint(point) {
    state.point = point;
    store('point', point.id);
    $('point-name').textContent = point.name;
    resetSale();
    show('sale');
    searchProducts('');
    const pending = load('pending', null);
    if (pending) {
      showInfo(_('A sale was not confirmed: retrying'));
      state.clientKey = pending.body.client_key;
      send(pending.path, pending.body, $('post-state'));
    }
  }

  // The box agent: card reads by long poll, receipt printing

  let agentRun = 0;

  function setAgentState(name) {
    const node = $('agent-state');
    node.className = 'state ' + name;
    node.textContent = _({
      on: 'Agent online', off: 'Agent offline', error: 'Agent error',
    }[name]);
  }

  async function agentLoop() {
    const run = ++agentRun;
    let since = null;
    let delay = 1000;
    while (run === agentRun) {
      const config = settings();
      if (!config.agentUrl) {
        setAgentState('off');
        return;
      }
      // the first call only learns the last read: old swipes are ignored
      const query = since === null ? 'timeout=0'
        : 'since=' + since + '&timeout=25';
      try {
        const response = await fetch(
          config.agentUrl.replace(/\/$/, '') + '/events?' + query,
          {headers: {'X-Agent-Key': config.agentKey}, cache: 'no-store'});
        const data = await response.json();
        if (!response.ok) {
          throw new Error(data.error || response.status);
        }
        if (run !== agentRun) {
          return;
        }
        setAgentState('on');
        delay = 1000;
        const first = since === null;
        since = data.last;
        for (const event of first ? [] : data.events) {
          if (event.kind === 'card') {
            identify(event.code);
          }
        }
      } catch (error) {
        setAgentState('error');
        await sleep(delay);
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  async function agentCall(method, path, body) {
    const config = settings();
    if (!config.agentUrl) {
      throw new Error(_('No agent configured'));
    }
    const options = {
      method: method,
      headers: {'X-Agent-Key': config.agentKey},
      cache: 'no-store',
    };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const response = await fetch(
      config.agentUrl.replace(/\/$/, '') + path, options);
    const data = await response.json();
    if (!response.ok) {
      throw new Error(data.error || response.status);
    }
    return data;
  }

  async function printDocument(document) {
    const node = $('print-state');
    node.textContent = _('Printing…');
    try {
      const body = {document: document};
      if (settings().printer) {
        body.printer = settings().printer;
      }
      const job = await agentCall('POST', '/print', body);
      for (let i = 0; i < 40; i++) {
        const status = await agentCall('GET', '/jobs/' + job.job);
        if (status.state === 'printed') {
          node.textContent = _('Printed');
          return;
        }
        if (status.state === 'failed') {
          throw new Error(status.error);
        }
        await sleep(250);
      }
      node.textContent = _('Queued on the printer');
    } catch (error) {
      node.textContent = _('Print failed: {error}', {error: error.message});
    }
  }

  // Scanning: card swipe (agent), keyboard-wedge scanner or typed code

  function focusScan() {
    const active = document.activeElement;
    if (!active || active === document.body) {
      $('scan-input').focus();
    }
  }

  function ean(code) {
    if (![8, 12, 13, 14].includes(code.length)) {
      return false;
    }
    const digits = code.split('').map(Number);
    const check = digits.pop();
    let sum = 0;
    digits.reverse().forEach((d, i) => {
      sum += d * (i % 2 === 0 ? 3 : 1);
    });
    return (10 - (sum % 10)) % 10 === check;
  }

  function phone(code) {
    return /^(\+?86)?1\d{10}$/.test(code.replace(/[ -]/g, ''));
  }

  async function scanned(code) {
    code = code.trim();
    if (!code || !state.point) {
      return;
    }
    if (/^\d+$/.test(code) && !phone(code) && ean(code)) {
      // a product barcode, unless no product has it
      if (await addBarcode(code)) {
        return;
      }
    }
    identify(code);
  }

  let burst = [];

  function onKey(event) {
    if (event.key === 'Enter') {
      const fast = burst.length >= 4 && burst.every(
        (key, i) => i === 0 || key.at - burst[i - 1].at < SCAN_INTERVAL);
      const target = event.target;
      if (fast && target !== $('scan-input')) {
        // a scan typed into another field: take it out of that field
        event.preventDefault();
        const code = burst.map((key) => key.char).join('');
        if (target && typeof target.value === 'string'
            && target.value.endsWith(code)) {
          target.value = target.value.slice(0, -code.length);
        }
        burst = [];
        scanned(code);
        return;
      }
      burst = [];
      if (target === $('scan-input')) {
        event.preventDefault();
        const code = target.value;
        target.value = '';
        scanned(code);
      }
      return;
    }
    if (event.key.length === 1) {
      const now = performance.now();
      if (burst.length && now - burst[burst.length - 1].at > 500) {
        burst = [];
      }
      burst.push({char: event.key, at: now});
    }
  }

  // Member

  async function identify(code) {
    if (!state.point || state.posting) {
      return;
    }
    hideBanner();
    try {
      const member = await api('POST', 'identify', {
        point: state.point.id, code: code});
      state.member = member;
      state.memberCode = code;
      state.payments = state.payments.filter(
        (p) => !p.method.member_payment);
      // the prices shown were not the member's
      state.products = [];
      renderProducts();
      renderMember();
      await repriceCart();
      searchProducts($('product-search').value);
    } catch (error) {
      showError(error.message);
    }
  }

  function balanceOf(type) {
    if (!state.member || !type) {
      return null;
    }
    return state.member.balances.find((b) => b.type === type.id) || null;
  }

  function renderMember() {
    const member = state.member;
    $('member-info').hidden = !member;
    if (!member) {
      return;
    }
    $('member-name').textContent = member.name;
    $('member-number').textContent = member.number;
    $('member-tier').textContent = member.tier || '';
    $('member-tier').hidden = !member.tier;
    const rate = plain(str(mul(dec(member.discount), 100n * ONE), 2));
    $('member-discount').textContent = _('Discount {rate}%', {rate: rate});
    $('member-discount').hidden = dec(member.discount) === 0n;
    const card = member.card;
    $('member-card').hidden = !card;
    if (card) {
      $('member-card').textContent = _('Card {number}: {state}', {
        number: card.number, state: card.state_string});
      $('member-card').className = 'tag' + (
        card.state === 'active' ? '' : ' warn');
    }
    $('member-balances').replaceChildren(...member.balances.map(
      (b) => el('span', {class: 'balance', dataset: {type: b.type}},
        _('{name}: {available} available (worth {value})', {
          name: b.name, available: plain(b.available),
          value: b.value === null ? '-' : b.value}))));
  }

  function clearMember() {
    state.member = null;
    state.memberCode = null;
    state.payments = state.payments.filter((p) => !p.method.member_payment);
    renderMember();
    repriceCart();
    searchProducts($('product-search').value);
  }

  // Products and cart

  function productParams(extra) {
    const params = {point: state.point.id, ...extra};
    if (state.member) {
      params.member = state.member.id;
    }
    return params;
  }

  let searchSeq = 0;

  async function searchProducts(query) {
    const seq = ++searchSeq;
    try {
      const data = await api(
        'GET', 'products', undefined, productParams({q: query}));
      if (seq !== searchSeq) {
        return;
      }
      const member = state.member ? state.member.id : null;
      state.products = data.products.map((p) => ({...p, member: member}));
      renderProducts();
    } catch (error) {
      showError(error.message);
    }
  }

  function renderProducts() {
    $('product-list').replaceChildren(...state.products.map((p) => {
      const discounted = dec(p.price) !== dec(p.list_price);
      return el('button', {
        dataset: {product: p.id}, onclick: () => addProduct(p),
      }, p.name, el('span', {class: 'price'}, money(dec(p.price)),
        discounted ? el('span', {class: 'old'}, money(dec(p.list_price)))
          : null));
    }));
  }

  async function addBarcode(code) {
    try {
      const data = await api(
        'GET', 'products', undefined, productParams({barcode: code}));
      if (data.products.length) {
        addProduct(data.products[0]);
        return true;
      }
    } catch (error) {
      showError(error.message);
      return true;
    }
    return false;
  }

  function addProduct(product) {
    if (state.posting) {
      return;
    }
    let quantity = '1';
    if (product.stored_value) {
      const amount = prompt(_('Top-up amount'));
      if (amount === null || !(dec(amount) > 0n)) {
        return;
      }
      quantity = amount.trim();
    }
    const line = state.cart.find(
      (l) => l.product.id === product.id && !product.stored_value);
    if (line) {
      line.quantity = str(dec(line.quantity) + ONE, 0);
    } else {
      state.cart.push({product: product, quantity: quantity});
    }
    if (product.member !== (state.member ? state.member.id : null)) {
      repriceCart();
    } else {
      renderCart();
    }
  }

  async function repriceCart() {
    if (!state.cart.length) {
      renderCart();
      return;
    }
    const ids = state.cart.map((l) => l.product.id).join(',');
    try {
      const data = await api(
        'GET', 'products', undefined, productParams({ids: ids}));
      const member = state.member ? state.member.id : null;
      const byId = new Map(data.products.map(
        (p) => [p.id, {...p, member: member}]));
      for (const line of state.cart) {
        line.product = byId.get(line.product.id) || line.product;
      }
    } catch (error) {
      showError(error.message);
    }
    renderCart();
  }

  function lineAmount(line) {
    return round(mul(dec(line.product.price), dec(line.quantity)),
      state.session.currency.digits);
  }

  function cartTotal() {
    return state.cart.reduce((sum, line) => sum + lineAmount(line), 0n);
  }

  function paid() {
    return state.payments.reduce((sum, p) => sum + dec(p.amount), 0n);
  }

  function changeQuantity(line, delta) {
    const quantity = dec(line.quantity) + delta;
    if (quantity <= 0n) {
      state.cart.splice(state.cart.indexOf(line), 1);
    } else {
      line.quantity = str(quantity, 0);
    }
    renderCart();
  }

  function renderCart() {
    const locked = state.posting || Boolean(state.clientKey);
    $('cart-lines').replaceChildren(...state.cart.map((line) => {
      const product = line.product;
      const discount = dec(product.member_discount || '0');
      return el('tr', {dataset: {product: product.id}},
        el('td', {}, product.name,
          discount ? el('span', {class: 'note'}, _('Member price')
            + ' -' + plain(str(mul(discount, 100n * ONE), 2)) + '%')
            : null),
        el('td', {class: 'num'},
          product.stored_value ? null : el('button', {
            class: 'small', disabled: locked,
            onclick: () => changeQuantity(line, -ONE)}, '−'),
          ' ' + plain(line.quantity) + ' ',
          product.stored_value ? null : el('button', {
            class: 'small', disabled: locked,
            onclick: () => changeQuantity(line, ONE)}, '+')),
        el('td', {class: 'num'}, money(dec(product.price)),
          discount ? el('div', {class: 'old'},
            money(dec(product.list_price))) : null),
        el('td', {class: 'num'}, money(lineAmount(line))),
        el('td', {}, el('button', {
          class: 'small', disabled: locked,
          onclick: () => changeQuantity(line, -dec(line.quantity))},
        '×')));
    }));
    $('cart-total').textContent = money(cartTotal());
    renderPayments();
  }

  // Payments

  function renderMethods() {
    $('method-list').replaceChildren(...state.session.methods.map(
      (m) => el('button', {
        dataset: {method: m.id},
        onclick: () => openPayment(m),
      }, m.name)));
  }

  function openPayment(method) {
    hideBanner();
    if (method.member_payment && !state.member) {
      showError(_('Identify the member first'));
      return;
    }
    state.method = method;
    const left = cartTotal() - paid();
    const input = $('pay-amount');
    input.value = '';
    $('pay-pin').value = '';
    $('pay-pin').hidden = !(method.member_payment === 'stored_value'
      && state.member.stored_value_card
      && state.member.stored_value_card.pin_required);
    const balance = balanceOf(method.point_type);
    $('pay-form-title').textContent = method.name;
    if (method.member_payment === 'points') {
      // the cashier enters the points: never the whole balance silently
      input.placeholder = _(
        'Points to spend ({available} available, {value} per point)', {
          available: balance ? plain(balance.available) : '0',
          value: plain(method.point_type.point_value)});
    } else if (method.member_payment === 'stored_value') {
      input.placeholder = _('Amount ({available} available)', {
        available: balance && balance.value !== null ? balance.value : '0'});
    } else {
      input.placeholder = _('Amount');
      if (left > 0n) {
        input.value = money(left);
      }
    }
    $('pay-available').textContent = input.placeholder;
    $('pay-form').hidden = false;
    input.focus();
  }

  function addPayment() {
    const method = state.method;
    const value = dec($('pay-amount').value);
    if (value === null || value <= 0n) {
      showError(_('Enter a positive number'));
      return;
    }
    const left = cartTotal() - paid();
    const payment = {method: method};
    if (method.member_payment === 'points') {
      const balance = balanceOf(method.point_type);
      const available = balance ? dec(balance.available) : 0n;
      if (value > available) {
        showError(_('Not enough {name}: {available} available, {asked} asked',
          {name: method.name, available: plain(str(available, 4)),
            asked: $('pay-amount').value}));
        return;
      }
      payment.points = $('pay-amount').value.trim();
      payment.amount = str(round(
        mul(value, dec(method.point_type.point_value)),
        state.session.currency.digits, true), state.session.currency.digits);
    } else {
      payment.amount = money(value);
      if (method.member_payment === 'stored_value') {
        const balance = balanceOf(method.point_type);
        const available = balance && balance.value !== null
          ? dec(balance.value) : 0n;
        if (value > available) {
          showError(_('Not enough {name}: {available} available, ' +
            '{asked} asked', {name: method.name,
            available: money(available), asked: money(value)}));
          return;
        }
        if (!$('pay-pin').hidden) {
          payment.pin = $('pay-pin').value;
        }
      }
    }
    if (!method.cash && dec(payment.amount) > left) {
      showError(_('More than left to pay'));
      return;
    }
    hideBanner();
    state.payments.push(payment);
    closePayment();
    renderPayments();
  }

  function closePayment() {
    state.method = null;
    $('pay-form').hidden = true;
    focusScan();
  }

  function renderPayments() {
    const locked = state.posting || Boolean(state.clientKey);
    $('payment-lines').replaceChildren(...state.payments.map((p, i) =>
      el('tr', {},
        el('td', {}, p.method.name + (p.points ? ' (' + p.points + ')' : '')),
        el('td', {class: 'num'}, money(dec(p.amount))),
        el('td', {}, el('button', {
          class: 'small', disabled: locked,
          onclick: () => {
            state.payments.splice(i, 1);
            renderPayments();
          }}, '×')))));
    const left = cartTotal() - paid();
    const change = left < 0n;
    $('to-pay-label').textContent = _(change ? 'Change' : 'To pay');
    $('to-pay').textContent = money(change ? -left : left);
    const cashPaid = state.payments.some((p) => p.method.cash);
    $('btn-post').disabled = state.posting || !state.cart.length
      || left > 0n || (change && !cashPaid);
    $('btn-post').textContent = _(state.clientKey && !state.posting
      ? 'Retry' : 'Post');
  }

  // Posting: the client key makes a retried post the same sale

  function newKey() {
    if (crypto.randomUUID) {
      return 'pos-' + crypto.randomUUID();
    }
    return 'pos-' + Date.now().toString(36) + '-'
      + Math.random().toString(36).slice(2);
  }

  function saleBody() {
    const body = {
      client_key: state.clientKey,
      point: state.point.id,
      lines: state.cart.map((l) => ({
        product: l.product.id, quantity: l.quantity})),
      payments: state.payments.map((p) => {
        const payment = {method: p.method.id};
        if (p.method.member_payment === 'points') {
          payment.points = p.points;
        } else {
          payment.amount = p.amount;
        }
        if (p.pin) {
          payment.pin = p.pin;
        }
        return payment;
      }),
    };
    if (state.member) {
      body.member = state.member.id;
      body.code = state.memberCode;
    }
    return body;
  }

  function postSale() {
    if (!state.clientKey) {
      state.clientKey = newKey();
    }
    send('sales', saleBody(), $('post-state'));
  }

  async function send(path, body, node) {
    state.posting = true;
    renderCart();
    hideBanner();
    // kept without PINs to retry after a reload of the page
    store('pending', {path: path, body: {...body, payments: (body.payments
      || []).map(({pin, ...p}) => p)}});
    node.className = '';
    node.textContent = _('Posting…');
    let delay = 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        const sale = await api('POST', path, body);
        store('pending', null);
        node.textContent = '';
        posted(sale);
        return;
      } catch (error) {
        if (retriable(error) && attempt < RETRIES) {
          node.className = 'retrying';
          node.textContent = _('Network problem: retrying… (attempt {n})',
            {n: attempt + 1});
          await sleep(delay);
          delay = Math.min(delay * 2, 15000);
          continue;
        }
        state.posting = false;
        node.className = 'retrying';
        if (retriable(error)) {
          node.textContent = _('Not confirmed: press Retry');
        } else {
          // refused: nothing was written, a corrected sale gets a new key
          store('pending', null);
          state.clientKey = null;
          node.textContent = '';
          showError(error.status === 409
            ? _('This key was already used for another sale: '
              + 'check the recent sales')
            : error.message);
        }
        renderCart();
        return;
      }
    }
  }

  function posted(sale) {
    state.posting = false;
    state.lastSale = sale;
    state.printed = false;
    state.recent = [{
      id: sale.id, number: sale.number, total: sale.total,
      lines: sale.lines.filter((l) => dec(l.quantity) > 0n),
    }, ...state.recent.filter((s) => s.id !== sale.id)].slice(0, 20);
    store('recent', state.recent.filter((s) => dec(s.total) > 0n));
    // What is left to return of a found sale is asked again
    state.found = state.found.filter((s) => s.id !== sale.return_of);
    resetSale();
    renderDone(sale);
    show('done');
    if (sale.receipt_queued) {
      $('print-state').textContent = _('Printed by the server printer');
      state.printed = true;
    } else if (settings().agentUrl) {
      state.printed = true;
      printDocument(sale.receipt);
    }
  }

  function renderDone(sale) {
    $('done-number').textContent = sale.number;
    const rows = [[_('Total'), money(dec(sale.total))]];
    for (const payment of sale.payments) {
      if (dec(payment.amount) < 0n && dec(sale.change) > 0n) {
        // the change, shown below
        continue;
      }
      rows.push([payment.name + (payment.points
        ? ' (' + plain(payment.points) + ')' : ''),
      money(dec(payment.amount))]);
    }
    if (dec(sale.change) > 0n) {
      rows.push([_('Change'), money(dec(sale.change))]);
    }
    if (sale.member) {
      rows.push([_('Member'), sale.member.name + ' ' + sale.member.number]);
      rows.push([_('Points earned'), plain(sale.points_earned)]);
      rows.push([_('Points redeemed'), plain(sale.points_redeemed)]);
      for (const balance of sale.member.balances) {
        rows.push([balance.name, plain(balance.balance)]);
      }
    }
    $('done-lines').replaceChildren(...rows.map(([label, value]) =>
      el('tr', {}, el('td', {}, label), el('td', {class: 'num'}, value))));
    $('btn-return-this').hidden = dec(sale.total) <= 0n;
  }

  async function reprint() {
    const sale = state.lastSale;
    if (!sale) {
      return;
    }
    try {
      if (!state.printed) {
        state.printed = true;
        await printDocument(sale.receipt);
      } else {
        const document = await api(
          'GET', 'sales/' + sale.id + '/receipt', undefined, {copy: '1'});
        await printDocument(document);
      }
    } catch (error) {
      showError(error.message);
    }
  }

  function resetSale() {
    state.cart = [];
    state.payments = [];
    state.member = null;
    state.memberCode = null;
    state.clientKey = null;
    state.posting = false;
    $('post-state').textContent = '';
    closePayment();
    renderMember();
    if (state.session) {
      renderMethods();
      renderCart();
    }
  }

  // Returns of recent sales, or of a sale found by its receipt number

  function returnable() {
    return [...state.found, ...state.recent.filter((s) => dec(s.total) > 0n
      && !state.found.some((f) => f.id === s.id))];
  }

  function openReturn(saleId) {
    hideBanner();
    renderReturnSales(saleId);
    state.clientKey = null;
    $('return-state').textContent = '';
    show('return');
  }

  function renderReturnSales(saleId) {
    $('return-sale').replaceChildren(...returnable().map(
      (s) => el('option', {
        value: s.id, selected: s.id === saleId,
      }, s.number + ' — ' + s.total)));
    renderReturnLines();
  }

  async function findSale() {
    const number = $('return-number').value.trim();
    if (!number) {
      return;
    }
    hideBanner();
    try {
      const sale = await api('GET', 'sales', undefined, {number: number});
      state.found = [sale, ...state.found.filter((s) => s.id !== sale.id)];
      $('return-number').value = '';
      state.clientKey = null;
      renderReturnSales(sale.id);
    } catch (error) {
      showError(error.status === 404
        ? _('No posted sale {number} at your sale points', {number: number})
        : error.message);
    }
  }

  function renderReturnLines() {
    const sale = returnable().find(
      (s) => String(s.id) === $('return-sale').value);
    $('return-lines').replaceChildren(...(sale ? sale.lines : []).map(
      (line) => el('tr', {},
        el('td', {}, line.name),
        el('td', {class: 'num'}, plain(line.quantity)),
        el('td', {}, el('input', {
          type: 'number', min: 0, max: Number(line.quantity), value: 0,
          inputMode: 'numeric', dataset: {line: line.id},
          placeholder: _('Quantity to return')})))));
  }

  function postReturn() {
    const lines = [];
    for (const input of $('return-lines').querySelectorAll('input')) {
      const quantity = dec(input.value || '0');
      if (quantity && quantity > 0n) {
        lines.push({line: Number(input.dataset.line), quantity: input.value});
      }
    }
    if (!lines.length) {
      showError(_('Nothing to return'));
      return;
    }
    if (!state.clientKey) {
      state.clientKey = newKey();
    }
    send('sales/' + $('return-sale').value + '/return',
      {client_key: state.clientKey, lines: lines}, $('return-state'));
  }

  // Settings

  function openSettings() {
    const config = settings();
    $('set-agent-url').value = config.agentUrl;
    $('set-agent-key').value = config.agentKey;
    $('set-printer').value = config.printer;
    $('set-language').value = config.language;
    $('settings').showModal();
  }

  function saveSettings() {
    store('settings', {
      agentUrl: $('set-agent-url').value.trim().replace(/\/$/, ''),
      agentKey: $('set-agent-key').value,
      printer: $('set-printer').value.trim(),
      language: $('set-language').value,
    });
    chooseLanguage();
    agentLoop();
  }

  function bind() {
    $('btn-sign-in').addEventListener('click', signIn);
    $('sign-in-login').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        signIn();
      }
    });
    $('btn-sign-out').addEventListener('click', signOut);
    $('btn-settings').addEventListener('click', openSettings);
    $('btn-settings-save').addEventListener('click', saveSettings);
    $('banner-close').addEventListener('click', hideBanner);
    $('btn-identify').addEventListener('click', () => {
      const code = $('scan-input').value;
      $('scan-input').value = '';
      scanned(code);
    });
    $('btn-member-clear').addEventListener('click', clearMember);
    let timer = null;
    $('product-search').addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => searchProducts($('product-search').value), 250);
    });
    $('btn-pay-add').addEventListener('click', addPayment);
    $('pay-amount').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        addPayment();
      }
    });
    $('btn-pay-cancel').addEventListener('click', closePayment);
    $('btn-clear').addEventListener('click', () => {
      if (!state.posting) {
        store('pending', null);
        resetSale();
      }
    });
    $('btn-post').addEventListener('click', postSale);
    $('btn-print').addEventListener('click', reprint);
    $('btn-reprint').addEventListener('click', async () => {
      state.printed = true;
      await reprint();
    });
    $('btn-new-sale').addEventListener('click', () => show('sale'));
    $('btn-return-mode').addEventListener('click', () => openReturn(null));
    $('btn-return-this').addEventListener(
      'click', () => openReturn(state.lastSale.id));
    $('return-sale').addEventListener('change', renderReturnLines);
    $('btn-return-find').addEventListener('click', findSale);
    $('return-number').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        findSale();
      }
    });
    $('btn-return-post').addEventListener('click', postReturn);
    $('btn-return-cancel').addEventListener('click', () => {
      state.clientKey = null;
      show('sale');
    });
    document.addEventListener('keydown', onKey, true);
    document.addEventListener('click', () => setTimeout(focusScan, 0));
  }

  bind();
  chooseLanguage();
  agentLoop();
  if (state.key) {
    waitForValidation();
  } else {
    show('sign-in');
  }
})();
