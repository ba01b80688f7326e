// Supplier Network: the Ariba-like single-page app of the portal simulator.
// Plain JavaScript, no build step. Every view is rendered here from the JSON
// API under /api; navigation uses history.pushState; saving never navigates
// by itself and a toast (role="status") is the only success signal.
(function () {
  'use strict';

  var main = document.getElementById('sn-main');
  var nav = document.getElementById('sn-nav');
  var toastRegion = document.getElementById('sn-toasts');
  var buyer = metaContent('sn-buyer');
  var csrf = metaContent('csrf-token');
  var me = null; // the signed-in supplier: {user, supplier}
  var renderSeq = 0;
  var busyCount = 0;

  function metaContent(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }

  function setCSRF(token) {
    if (!token) return;
    csrf = token;
    var m = document.querySelector('meta[name="csrf-token"]');
    if (m) m.setAttribute('content', token);
  }

  // ---- DOM helpers -------------------------------------------------------

  // h builds an element: h('a', {href: '/x', on: {click: fn}}, 'text', child).
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'on') {
          Object.keys(v).forEach(function (ev) { el.addEventListener(ev, v[ev]); });
        } else if (k === 'class') {
          el.className = v;
        } else if (k === 'value') {
          el.value = v;
        } else if (k === 'checked') {
          el.checked = !!v;
        } else if (v === true) {
          el.setAttribute(k, '');
        } else {
          el.setAttribute(k, String(v));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }

  function link(href, text, attrs) {
    var a = h('a', Object.assign({ href: href, 'data-nav': true }, attrs || {}), text);
    return a;
  }

  function enc(s) { return encodeURIComponent(s); }

  function setBusy(on) {
    busyCount += on ? 1 : -1;
    if (busyCount < 0) busyCount = 0;
    main.setAttribute('aria-busy', busyCount > 0 ? 'true' : 'false');
  }

  // show replaces the view. The heading takes the focus, as a page load would.
  function show(title, nodes) {
    main.replaceChildren();
    append(main, nodes);
    document.title = title + ' · Supplier Network';
    var h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }

  // toast shows the one current message: role="status" for success, role="alert" for errors.
  function toast(message, kind) {
    toastRegion.replaceChildren();
    var el = h('div', { class: 'sn-toast sn-toast-' + (kind || 'success'), role: kind === 'error' ? 'alert' : 'status' }, message);
    toastRegion.appendChild(el);
    setTimeout(function () { el.remove(); }, 12000);
  }

  function alertBox(message, items) {
    return h('div', { class: 'sn-alert', role: 'alert' },
      h('p', null, message),
      items && items.length ? h('ul', null, items.map(function (t) { return h('li', null, t); })) : null);
  }

  function field(id, label, control, hint) {
    return h('div', { class: 'sn-field' }, h('label', { for: id }, label), control, hint ? h('p', { class: 'sn-hint' }, hint) : null);
  }

  function table(label, headers, rows, numeric) {
    numeric = numeric || [];
    return h('table', { class: 'sn-grid', 'aria-label': label },
      h('thead', null, h('tr', null, headers.map(function (t, i) {
        return h('th', { scope: 'col', class: numeric.indexOf(i) >= 0 ? 'sn-num' : null }, t);
      }))),
      h('tbody', null, rows));
  }

  function cell(content, num) { return h('td', { class: num ? 'sn-num' : null }, content); }

  function facts(label, pairs) {
    return h('dl', { class: 'sn-facts', 'aria-label': label }, pairs.map(function (p) {
      return [h('dt', null, p[0]), h('dd', null, p[1] === null || p[1] === undefined ? '' : p[1])];
    }));
  }

  // ---- API ----------------------------------------------------------------

  function ApiError(status, message, data) {
    this.status = status;
    this.message = message;
    this.data = data || {};
  }

  function api(method, path, body) {
    var opts = { method: method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = null; }
        if (res.ok && data) return data;
        var msg = data && data.error ? data.error : 'The portal could not complete the request (HTTP ' + res.status + '). Please try again later.';
        throw new ApiError(res.status, msg, data);
      });
    }, function () {
      throw new ApiError(0, 'The portal cannot be reached. Check the connection and try again.');
    });
  }

  // ---- routing ------------------------------------------------------------

  function routeOf(pathname) {
    var p = pathname.replace(/\/+$/, '');
    var m;
    if (p === '/app') return { name: 'home' };
    if (p === '/app/orders') return { name: 'orders' };
    if ((m = p.match(/^\/app\/orders\/([^/]+)$/))) return { name: 'order', number: decodeURIComponent(m[1]) };
    if ((m = p.match(/^\/app\/orders\/([^/]+)\/invoice$/))) return { name: 'wizard', number: decodeURIComponent(m[1]) };
    if (p === '/app/invoices') return { name: 'invoices' };
    if ((m = p.match(/^\/app\/invoices\/([^/]+)$/))) return { name: 'invoice', id: decodeURIComponent(m[1]) };
    return { name: 'notfound' };
  }

  function navigate(url, replace) {
    if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
    render();
  }

  window.addEventListener('popstate', function () { render(); });
  document.addEventListener('click', function (e) {
    var a = e.target.closest ? e.target.closest('a[data-nav]') : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });

  function render() {
    var seq = ++renderSeq;
    var loc = new URL(window.location.href);
    var route = routeOf(loc.pathname);
    if (route.name === 'home') {
      history.replaceState(null, '', '/app/orders');
      route = { name: 'orders' };
      loc = new URL(window.location.href);
    }
    setBusy(true);
    var ready = me ? Promise.resolve() : loadSession();
    return ready.then(function () {
      return views[route.name](route, loc.searchParams);
    }).then(function (v) {
      if (seq !== renderSeq) return;
      renderNav(route.name);
      show(v.title, v.nodes);
    }, function (err) {
      if (seq !== renderSeq) return;
      if (err instanceof ApiError && err.status === 401) {
        return signedOut(err.data && err.data.expired ? err.message : '');
      }
      show('Something went wrong', errorView(err));
    }).then(function () { setBusy(false); }, function () { setBusy(false); });
  }

  function errorView(err) {
    return [
      h('h1', null, 'Something went wrong'),
      alertBox(err.message || String(err)),
      h('button', { type: 'button', class: 'sn-btn', on: { click: function () { render(); } } }, 'Try again'),
    ];
  }

  function renderNav(current) {
    if (!me) { nav.hidden = true; nav.replaceChildren(); return; }
    var section = current === 'invoices' || current === 'invoice' ? 'invoices' : 'orders';
    nav.replaceChildren(
      link('/app/orders', 'Orders', { 'aria-current': section === 'orders' ? 'page' : null }),
      link('/app/invoices', 'Invoices', { 'aria-current': section === 'invoices' ? 'page' : null }),
      h('span', { class: 'sn-who' }, me.supplier || me.user),
      h('button', { type: 'button', class: 'sn-btn sn-btn-quiet', id: 'sn-signout', on: { click: signOut } }, 'Sign out'));
    nav.hidden = false;
  }

  // ---- session ------------------------------------------------------------

  // loadSession resolves when signed in and rejects with the 401 otherwise.
  function loadSession() {
    return api('GET', '/api/session').then(function (s) {
      me = { user: s.user, supplier: s.supplier };
      setCSRF(s.csrf);
    }, function (err) {
      if (err.status === 401 && err.data) setCSRF(err.data.csrf);
      me = null;
      throw err;
    });
  }

  // signedOut renders the step of the sign-in the server says is due, in
  // place: the URL stays, so the requested view renders after sign-in.
  function signedOut(notice) {
    me = null;
    renderNav('');
    return api('GET', '/api/session').then(function (s) {
      // Signed in meanwhile (another tab): just render.
      me = { user: s.user, supplier: s.supplier };
      setCSRF(s.csrf);
      render();
    }, function (err) {
      var st = err.data || {};
      setCSRF(st.csrf);
      if (st.expired) notice = notice || st.error;
      authStep(st, notice, st.expired ? '' : (st.error || ''));
    });
  }

  function authStep(st, notice, error) {
    switch (st.step) {
      case 'mfa': return show('Verify your identity', mfaView(st, error));
      case 'password_expired': return show('Password expired', expiredView(st, error));
    }
    return show('Supplier sign in', signInView(notice, error));
  }

  // afterAuth handles the answer of a sign-in step: done, or the next step.
  function afterAuth(res) {
    setCSRF(res.csrf);
    if (res.step === 'done') {
      me = { user: res.user, supplier: res.supplier };
      return render();
    }
    authStep(res, '', '');
  }

  function authFailed(err) {
    var st = err.data || {};
    setCSRF(st.csrf);
    if (err.status === 403 && !st.step) {
      // A stale security token: fetch a fresh one and let the user try again.
      return api('GET', '/api/session').then(function () { render(); }, function (e2) {
        var s2 = e2.data || {};
        setCSRF(s2.csrf);
        authStep(s2, '', err.message);
      });
    }
    authStep(st.step ? st : { step: 'password' }, '', err.message);
  }

  function signInView(notice, error) {
    var form = h('form', { id: 'sn-signin-form', class: 'sn-form', novalidate: true },
      field('sn-login-id', 'Email or user ID', h('input', { id: 'sn-login-id', name: 'loginId', type: 'text', autocomplete: 'username', required: true })),
      field('sn-login-secret', 'Password', h('input', { id: 'sn-login-secret', name: 'secret', type: 'password', autocomplete: 'current-password', required: true })),
      h('div', { class: 'sn-actions' }, h('button', { type: 'submit', class: 'sn-btn', id: 'sn-continue' }, 'Continue')));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      setBusy(true);
      api('POST', '/api/session', { username: form.loginId.value.trim(), password: form.secret.value })
        .then(afterAuth, authFailed)
        .then(function () { setBusy(false); }, function () { setBusy(false); });
    });
    return h('section', { class: 'sn-auth' },
      h('h1', null, 'Supplier sign in'),
      h('p', { class: 'sn-lede' }, 'Sign in to your ' + buyer + ' supplier account.'),
      notice ? h('p', { class: 'sn-notice', role: 'status' }, notice) : null,
      error ? alertBox(error) : null,
      form);
  }

  function mfaView(st, error) {
    var form = h('form', { id: 'sn-mfa-form', class: 'sn-form', novalidate: true },
      field('sn-otp', 'Authentication code', h('input', { id: 'sn-otp', name: 'otp', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true }),
        'Enter the 6-digit code from your authenticator app.'),
      st.remember_offered ? h('div', { class: 'sn-check' },
        h('input', { id: 'sn-trust', name: 'trust', type: 'checkbox' }),
        h('label', { for: 'sn-trust' }, 'Trust this device')) : null,
      h('div', { class: 'sn-actions' }, h('button', { type: 'submit', class: 'sn-btn', id: 'sn-verify' }, 'Verify')));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      form.querySelector('button[type=submit]').disabled = true;
      setBusy(true);
      api('POST', '/api/session/mfa', { code: form.otp.value.trim(), trust: !!(form.trust && form.trust.checked) })
        .then(afterAuth, authFailed)
        .then(function () { setBusy(false); }, function () { setBusy(false); });
    });
    return h('section', { class: 'sn-auth' },
      h('h1', null, 'Verify your identity'),
      st.message ? h('p', { class: 'sn-notice', role: 'status' }, st.message) : null,
      error ? alertBox(error) : null,
      form);
  }

  function expiredView(st, error) {
    var input = function (id, name, label, auto) {
      var el = h('input', { id: id, name: name, type: 'password', autocomplete: auto, required: true });
      if (error && st.field === name) {
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', id + '-error');
      }
      return h('div', { class: 'sn-field' }, h('label', { for: id }, label), el,
        error && st.field === name ? h('span', { id: id + '-error', class: 'sn-field-error' }, error) : null);
    };
    var form = h('form', { id: 'sn-newpass-form', class: 'sn-form', novalidate: true },
      input('sn-curpass', 'currentPassword', 'Current password', 'current-password'),
      input('sn-newpass', 'newPassword', 'New password', 'new-password'),
      input('sn-newpass2', 'confirmPassword', 'Confirm new password', 'new-password'),
      h('div', { class: 'sn-actions' }, h('button', { type: 'submit', class: 'sn-btn', id: 'sn-change-password' }, 'Change password')));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      form.querySelector('button[type=submit]').disabled = true;
      setBusy(true);
      api('POST', '/api/session/password', {
        current_password: form.currentPassword.value, new_password: form.newPassword.value, confirm_password: form.confirmPassword.value,
      }).then(afterAuth, authFailed).then(function () { setBusy(false); }, function () { setBusy(false); });
    });
    return h('section', { class: 'sn-auth' },
      h('h1', null, 'Password expired'),
      alertBox(st.message || 'Your password has expired. Choose a new one.', error ? [error] : null),
      form);
  }

  function signOut() {
    setBusy(true);
    api('DELETE', '/api/session').then(function (res) {
      me = null;
      toast(res.message || 'You have been signed out.');
      navigate('/app/orders', true);
    }, function (err) {
      toast(err.message, 'error');
    }).then(function () { setBusy(false); });
  }

  // ---- lists --------------------------------------------------------------

  function searchForm(id, label, value, base) {
    var input = h('input', { id: id, name: 'search', type: 'search', value: value || '' });
    var form = h('form', { class: 'sn-search', role: 'search', 'aria-label': label },
      h('label', { for: id }, label), input,
      h('button', { type: 'submit', class: 'sn-btn' }, 'Search'));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var q = input.value.trim();
      navigate(q ? base + '?search=' + enc(q) : base);
    });
    return form;
  }

  function pager(data, base) {
    var go = function (n) {
      var p = new URLSearchParams();
      if (data.search) p.set('search', data.search);
      if (data.updated_since) p.set('updatedSince', data.updated_since);
      p.set('page', String(n));
      return function () { navigate(base + '?' + p.toString()); };
    };
    return h('nav', { class: 'sn-pager', 'aria-label': 'Pagination' },
      data.page > 1 ? h('button', { type: 'button', class: 'sn-btn sn-btn-quiet', on: { click: go(data.page - 1) } }, 'Previous page') : null,
      h('span', { class: 'sn-page-of' }, 'Page ' + data.page + ' of ' + data.pages),
      data.page < data.pages ? h('button', { type: 'button', class: 'sn-btn sn-btn-quiet', on: { click: go(data.page + 1) } }, 'Next page') : null);
  }

  function listQuery(params) {
    var p = new URLSearchParams();
    var page = params.get('page');
    var search = params.get('search');
    var since = params.get('updatedSince');
    if (search) p.set('search', search);
    if (since) p.set('updatedSince', since);
    if (page) p.set('page', page);
    var s = p.toString();
    return s ? '?' + s : '';
  }

  var views = {};

  views.orders = function (route, params) {
    return api('GET', '/api/orders' + listQuery(params)).then(function (d) {
      var rows = d.orders.map(function (o) {
        return h('tr', { 'data-order': o.number },
          cell(link('/app/orders/' + enc(o.number), o.number)),
          cell(o.customer), cell(o.date), cell(o.currency),
          cell(o.amount, true), cell(o.amount_invoiced, true), cell(o.amount_remaining, true),
          cell(h('span', { class: 'sn-pill' }, o.status)), cell(o.terms));
      });
      return {
        title: 'Purchase Orders',
        nodes: [
          h('h1', null, 'Purchase Orders'),
          searchForm('sn-order-search', 'Search orders', d.search, '/app/orders'),
          h('p', { class: 'sn-count' }, (d.total === 1 ? '1 order' : d.total + ' orders') + (d.updated_since ? ' changed since ' + d.updated_since : '')),
          table('Orders', ['Order Number', 'Customer', 'Date', 'Currency', 'Amount', 'Amount Invoiced', 'Amount Remaining', 'Order Status', 'Terms'], rows, [4, 5, 6]),
          rows.length ? null : h('p', { class: 'sn-empty' }, 'No orders found.'),
          pager(d, '/app/orders'),
        ],
      };
    });
  };

  views.invoices = function (route, params) {
    return api('GET', '/api/invoices' + listQuery(params)).then(function (d) {
      var rows = d.invoices.map(function (inv) {
        return h('tr', { 'data-invoice': inv.number },
          cell(link('/app/invoices/' + enc(inv.id), inv.number)),
          cell(inv.order_number), cell(inv.invoice_date), cell(inv.amount, true), cell(inv.currency),
          cell(h('span', { class: 'sn-pill' }, inv.status)), cell(inv.routing_status));
      });
      return {
        title: 'Invoices',
        nodes: [
          h('h1', null, 'Invoices'),
          searchForm('sn-invoice-search', 'Search invoices', d.search, '/app/invoices'),
          h('p', { class: 'sn-count' }, d.total === 1 ? '1 invoice' : d.total + ' invoices'),
          table('Invoices', ['Invoice No.', 'Order Number', 'Invoice Date', 'Amount', 'Currency', 'Status', 'Routing Status'], rows, [3]),
          rows.length ? null : h('p', { class: 'sn-empty' }, 'No invoices found.'),
          pager(d, '/app/invoices'),
        ],
      };
    });
  };

  // ---- order detail -------------------------------------------------------

  function orderNotFound(err) {
    if (err.status !== 404) throw err;
    return { title: 'Order not found', nodes: [h('h1', null, 'Order not found'), alertBox(err.message), h('p', null, link('/app/orders', 'Back to Purchase Orders'))] };
  }

  views.order = function (route) {
    return api('GET', '/api/orders/' + enc(route.number)).then(function (d) {
      var o = d.order;
      var rows = d.lines.map(function (l) {
        return h('tr', { 'data-line': l.no }, cell(String(l.no)), cell(l.part), cell(l.item), cell(l.qty, true), cell(l.unit), cell(l.price, true));
      });
      return {
        title: 'Order ' + o.number,
        nodes: [
          h('p', { class: 'sn-crumbs' }, link('/app/orders', 'Purchase Orders')),
          h('h1', null, 'Order ' + o.number),
          facts('Order summary', [
            ['Customer', o.customer], ['Date', o.date], ['Currency', o.currency], ['Amount', o.amount],
            ['Amount Invoiced', o.amount_invoiced], ['Amount Remaining', o.amount_remaining],
            ['Order Status', o.status], ['Terms', o.terms]]),
          o.can_invoice
            ? h('div', { class: 'sn-actions' }, h('button', {
              type: 'button', class: 'sn-btn', id: 'sn-create-invoice',
              on: { click: function () { navigate('/app/orders/' + enc(o.number) + '/invoice'); } },
            }, 'Create Invoice'))
            : h('p', { class: 'sn-notice' }, d.reason),
          h('h2', null, 'Lines'),
          table('Order lines', ['No.', 'Part #', 'Item', 'Qty', 'Unit', 'Price'], rows, [3, 5]),
        ],
      };
    }, orderNotFound);
  };

  // ---- invoice wizard -----------------------------------------------------

  var STEPS = ['Header', 'Lines', 'Tax and attachments', 'Review'];

  function toNum(s) {
    var n = Number(String(s).trim());
    return String(s).trim() === '' || isNaN(n) ? null : n;
  }

  function money(n) { return (Math.round((n + Number.EPSILON) * 100) / 100).toFixed(2); }

  views.wizard = function (route) {
    return api('GET', '/api/orders/' + enc(route.number)).then(function (d) {
      var o = d.order;
      if (!o.can_invoice) {
        return {
          title: 'Invoice not allowed',
          nodes: [h('h1', null, 'Invoice not allowed'), alertBox(d.reason), h('p', null, link('/app/orders/' + enc(o.number), 'Back to order ' + o.number))],
        };
      }
      return wizard(d);
    }, orderNotFound);
  };

  function wizard(d) {
    var o = d.order;
    var form = h('form', { id: 'sn-invoice-wizard', class: 'sn-form sn-wizard', novalidate: true });
    var stepper = h('p', { class: 'sn-stepper', id: 'sn-stepper' }, 'Step 1 of 4');
    var stepList = h('ol', { class: 'sn-steps', 'aria-hidden': 'true' }, STEPS.map(function (s) { return h('li', null, s); }));
    var alertArea = h('div', { id: 'sn-wizard-alert' });
    var sections = [];
    var current = 0;

    function buttons(back, next, nextLabel) {
      return h('div', { class: 'sn-actions' },
        back ? h('button', { type: 'button', class: 'sn-btn sn-btn-quiet', on: { click: function () { go(current - 1); } } }, 'Back') : null,
        next ? h('button', { type: nextLabel === 'Save' ? 'submit' : 'button', class: 'sn-btn', on: nextLabel === 'Save' ? null : { click: function () { go(current + 1); } } }, nextLabel || 'Next') : null);
    }

    function section(i, content) {
      var hid = 'sn-step-' + (i + 1) + '-title';
      var s = h('section', { class: 'sn-step', 'data-step': i + 1, 'aria-labelledby': hid, hidden: i !== 0 },
        h('h2', { id: hid, tabindex: '-1' }, STEPS[i]), content);
      sections.push(s);
      return s;
    }

    // Step 1: header.
    var remit = d.form.remit_to || [];
    section(0, [
      field('sn-inv-no', 'Invoice No.', h('input', { id: 'sn-inv-no', name: 'invoiceNo', type: 'text', autocomplete: 'off', required: true })),
      field('sn-inv-date', 'Invoice Date', h('input', { id: 'sn-inv-date', name: 'invoiceDate', type: 'date', required: true })),
      remit.length ? field('sn-remit', 'Remit To', h('select', { id: 'sn-remit', name: 'remitTo', required: true },
        h('option', { value: '' }, 'Select an address'),
        remit.map(function (r) { return h('option', { value: r.value }, r.label); }))) : null,
      facts('Order terms', [['Order Number', o.number], ['Customer', o.customer], ['Currency', o.currency], ['Terms', o.terms], ['Amount Remaining', o.amount_remaining]]),
      buttons(false, true),
    ]);

    // Step 2: lines.
    var lineRows = d.lines.map(function (l) {
      var n = l.no;
      var amount = h('td', { class: 'sn-num', 'data-amount': n });
      var qty = h('input', { id: 'sn-qty-' + n, name: 'qty.' + n, type: 'text', inputmode: 'decimal', class: 'sn-in-num', value: l.qty });
      var price = h('input', { id: 'sn-price-' + n, name: 'price.' + n, type: 'text', inputmode: 'decimal', class: 'sn-in-num', value: l.price });
      var rm = h('input', { id: 'sn-remove-' + n, name: 'remove.' + n, type: 'checkbox', value: 'on' });
      var row = h('tr', { 'data-line': n },
        cell(String(n)), cell(l.part), cell(l.item), cell(l.qty + ' ' + l.unit, true),
        h('td', null, h('label', { for: 'sn-qty-' + n, class: 'sn-sr' }, 'Qty for line ' + n), qty),
        h('td', null, h('label', { for: 'sn-price-' + n, class: 'sn-sr' }, 'Price for line ' + n), price),
        amount,
        h('td', { class: 'sn-remove' }, rm, h('label', { for: 'sn-remove-' + n }, 'Remove line ' + n)));
      var update = function () {
        var q = toNum(qty.value), p = toNum(price.value);
        amount.textContent = rm.checked || q === null || p === null ? '' : money(q * p);
        row.classList.toggle('sn-removed', rm.checked);
      };
      [qty, price, rm].forEach(function (el) { el.addEventListener('input', update); el.addEventListener('change', update); });
      update();
      return row;
    });
    var linesTable = h('table', { class: 'sn-grid', 'aria-label': 'Invoice lines' },
      h('thead', null, h('tr', null,
        ['No.', 'Part #', 'Item', 'Ordered', 'Qty', 'Price', 'Amount'].map(function (t) { return h('th', { scope: 'col' }, t); }),
        h('td', { class: 'sn-remove-head' }))),
      h('tbody', null, lineRows));
    section(1, [linesTable, buttons(true, true)]);

    // Step 3: tax and attachments.
    var cats = d.form.tax_categories || [];
    section(2, [
      field('sn-tax-pct', 'Tax Rate %', h('input', { id: 'sn-tax-pct', name: 'taxPercent', type: 'text', inputmode: 'decimal', value: '0', class: 'sn-in-num' })),
      field('sn-tax-cat', 'Tax Category', h('select', { id: 'sn-tax-cat', name: 'taxCategory' },
        cats.map(function (c) { return h('option', { value: c.value }, c.label); }))),
      field('sn-exempt-ref', 'Exemption Reference', h('input', { id: 'sn-exempt-ref', name: 'exemptionRef', type: 'text', autocomplete: 'off' }),
        d.form.exemption_needs_reference ? 'Required when the tax category is Exempt.' : null),
      field('sn-comments', 'Comments', h('textarea', { id: 'sn-comments', name: 'comments', rows: '3' })),
      field('sn-document', 'Invoice Document', h('input', { id: 'sn-document', name: 'document', type: 'file', accept: d.form.attachment_accept || null }),
        d.form.attachment_hint || null),
      buttons(true, true),
    ]);

    // Step 4: review.
    var summary = h('div', { id: 'sn-review-summary' });
    section(3, [summary, buttons(true, true, 'Save')]);

    function fillSummary() {
      var subtotal = 0, count = 0;
      d.lines.forEach(function (l) {
        if (form.elements['remove.' + l.no].checked) return;
        var q = toNum(form.elements['qty.' + l.no].value), p = toNum(form.elements['price.' + l.no].value);
        if (q === null || p === null || q === 0) return;
        subtotal += Math.round((q * p + Number.EPSILON) * 100) / 100;
        count++;
      });
      var rate = toNum(form.taxPercent.value) || 0;
      var exempt = form.taxCategory.value.toLowerCase() === 'exempt';
      var tax = exempt ? 0 : Math.round((subtotal * rate / 100 + Number.EPSILON) * 100) / 100;
      var file = form.document.files && form.document.files[0];
      var remitSel = form.elements.remitTo;
      summary.replaceChildren(facts('Invoice summary', [
        ['Invoice No.', form.invoiceNo.value.trim()],
        ['Invoice Date', form.invoiceDate.value],
        remitSel ? ['Remit To', remitSel.value ? remitSel.options[remitSel.selectedIndex].text : ''] : null,
        ['Lines', String(count)],
        ['Subtotal', money(subtotal) + ' ' + o.currency],
        ['Tax', money(tax) + ' ' + o.currency],
        ['Total', money(subtotal + tax) + ' ' + o.currency],
        ['Invoice Document', file ? file.name : ''],
      ].filter(Boolean)));
    }

    function go(i) {
      if (i < 0 || i >= sections.length) return;
      current = i;
      sections.forEach(function (s, j) { s.hidden = j !== i; });
      Array.prototype.forEach.call(stepList.children, function (li, j) {
        if (j === i) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
      });
      stepper.textContent = 'Step ' + (i + 1) + ' of 4';
      if (i === 3) fillSummary();
      sections[i].querySelector('h2').focus({ preventScroll: true });
    }

    function clearErrors() {
      alertArea.replaceChildren();
      Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (el) {
        el.removeAttribute('aria-invalid');
        el.removeAttribute('aria-describedby');
      });
      Array.prototype.forEach.call(form.querySelectorAll('.sn-field-error'), function (el) { el.remove(); });
    }

    function markErrors(errs) {
      errs.forEach(function (e, i) {
        if (!e.field) return;
        var el = form.elements[e.field];
        if (!el || !el.setAttribute) return;
        var id = 'sn-err-' + i;
        el.setAttribute('aria-invalid', 'true');
        var prev = el.getAttribute('aria-describedby');
        el.setAttribute('aria-describedby', prev ? prev + ' ' + id : id);
        el.insertAdjacentElement('afterend', h('span', { id: id, class: 'sn-field-error' }, e.message));
      });
    }

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (current !== 3) { go(current + 1); return; }
      clearErrors();
      var btn = sections[3].querySelector('button[type=submit]');
      btn.disabled = true;
      setBusy(true);
      api('POST', '/api/orders/' + enc(o.number) + '/invoices', new FormData(form)).then(function (res) {
        toast(res.message);
        navigate('/app/invoices/' + enc(res.invoice.id));
      }, function (err) {
        if (err.status === 401) { signedOut(err.message); return; }
        var errs = (err.data && err.data.errors) || [];
        alertArea.replaceChildren(alertBox(err.message, errs.map(function (x) { return x.label + ': ' + x.message; })));
        markErrors(errs);
        btn.disabled = false;
      }).then(function () { setBusy(false); });
    });

    append(form, sections);
    return {
      title: 'Create Invoice',
      nodes: [
        h('p', { class: 'sn-crumbs' }, link('/app/orders/' + enc(o.number), 'Order ' + o.number)),
        h('h1', null, 'Create Invoice for Order ' + o.number),
        stepper, stepList, alertArea, form,
      ],
    };
  }

  // ---- invoice detail -----------------------------------------------------

  views.invoice = function (route) {
    return api('GET', '/api/invoices/' + enc(route.id)).then(function (d) {
      return invoiceView(d.invoice);
    }, function (err) {
      if (err.status !== 404) throw err;
      return { title: 'Invoice not found', nodes: [h('h1', null, 'Invoice not found'), alertBox(err.message), h('p', null, link('/app/invoices', 'Back to Invoices'))] };
    });
  };

  function invoiceAction(inv, method, path, after) {
    return function () {
      setBusy(true);
      api(method, path).then(function (res) {
        toast(res.message);
        after();
      }, function (err) {
        if (err.status === 401) { signedOut(err.message); return; }
        toast(err.message, 'error');
        render();
      }).then(function () { setBusy(false); });
    };
  }

  function invoiceView(inv) {
    var base = '/api/invoices/' + enc(inv.id);
    var submit = invoiceAction(inv, 'POST', base + '/submit', function () { render(); });
    var del = invoiceAction(inv, 'DELETE', base, function () { navigate('/app/invoices'); });
    var lines = inv.lines.map(function (l) {
      return h('tr', { 'data-line': l.no }, cell(String(l.no)), cell(l.part), cell(l.item), cell(l.qty, true), cell(l.unit), cell(l.price, true), cell(l.amount, true));
    });
    return {
      title: 'Invoice ' + inv.number,
      nodes: [
        h('p', { class: 'sn-crumbs' }, link('/app/invoices', 'Invoices')),
        h('h1', null, 'Invoice ' + inv.number),
        facts('Invoice status', [
          ['Status', inv.status], ['Routing Status', inv.routing_status],
          ['Order Number', link('/app/orders/' + enc(inv.order_number), inv.order_number)],
          ['Invoice Date', inv.invoice_date], ['Total Amount', inv.total_amount],
          ['Rejection Code', inv.rejection_code], ['Rejection Reason', inv.rejection_reason],
          ['Payment Reference', inv.payment_reference], ['Amount Paid', inv.amount_paid]]),
        inv.can_submit || inv.can_delete ? h('div', { class: 'sn-actions' },
          inv.can_submit ? h('button', {
            type: 'button', class: 'sn-btn', id: 'sn-submit-invoice',
            on: { click: function () { if (window.confirm(inv.confirm_submit)) submit(); } },
          }, 'Submit') : null,
          inv.can_delete ? h('button', {
            type: 'button', class: 'sn-btn sn-btn-danger', id: 'sn-delete-invoice',
            on: { click: function () { if (window.confirm(inv.confirm_delete)) del(); } },
          }, 'Delete') : null) : null,
        h('h2', null, 'Details'),
        facts('Invoice details', [
          ['Currency', inv.currency], ['Payment Terms', inv.terms], ['Remit To', inv.remit_to],
          ['Subtotal', inv.subtotal], ['Tax Category', inv.tax_category], ['Tax Rate', inv.tax_rate + ' %'],
          ['Exemption Ref.', inv.exemption_ref], ['Tax', inv.tax], ['Comments', inv.comments], ['Document', inv.document]]),
        h('h2', null, 'Lines'),
        table('Billed lines', ['No.', 'Part #', 'Item', 'Qty', 'Unit', 'Price', 'Amount'], lines, [3, 5, 6]),
      ],
    };
  }

  views.notfound = function () {
    return Promise.resolve({
      title: 'Page not found',
      nodes: [h('h1', null, 'Page not found'), alertBox('The page you asked for does not exist.'), h('p', null, link('/app/orders', 'Go to Purchase Orders'))],
    });
  };

  render();
})();
