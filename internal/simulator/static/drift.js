// drift.js: layout drift of the portal simulator's fault injection (faults.go, drift.go).
//
// The simulator adds this script, with its configuration in data-drift, right
// before </body> of every HTML page a drift fault matches. It changes the DOM
// at once and again after every DOM mutation, so it drifts server-rendered
// pages and the views a single-page app renders later alike.
//
// What a page's own scripts see: nodes are only ever moved, never cloned or
// replaced, so listeners and form values survive; and lookups that scripts
// loaded from this portal make by an old id or class (getElementById,
// querySelector(All), matches, closest, getElementsByClassName, classList,
// the id property) are translated, as a real redesign would ship its own code
// along. Automation (DevTools-protocol queries, evaluated JavaScript) sees the
// drifted page only.
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script) return;
  var cfg;
  try {
    cfg = JSON.parse(script.getAttribute('data-drift') || '{}');
  } catch (e) {
    return;
  }
  var selfURL = script.src;
  var origin = location.origin + '/';
  var seed = String(cfg.seed || '');

  function norm(s) { return String(s).replace(/\s+/g, ' ').trim(); }

  var renames = new Map(), statuses = new Map(), removes = new Set();
  (cfg.rename || []).forEach(function (c) { renames.set(norm(c.from), c.to); });
  (cfg.status || []).forEach(function (c) { statuses.set(norm(c.from), c.to); });
  (cfg.remove || []).forEach(function (t) { removes.add(norm(t)); });
  var cosmetic = !!cfg.cosmetic;

  // ---- the page's own DOM functions, saved before they are wrapped --------

  var DP = Document.prototype, EP = Element.prototype, FP = DocumentFragment.prototype, TP = DOMTokenList.prototype;
  var orig = {
    dById: DP.getElementById, fById: FP.getElementById,
    dQS: DP.querySelector, dQSA: DP.querySelectorAll,
    eQS: EP.querySelector, eQSA: EP.querySelectorAll,
    fQS: FP.querySelector, fQSA: FP.querySelectorAll,
    matches: EP.matches, closest: EP.closest,
    dByClass: DP.getElementsByClassName, eByClass: EP.getElementsByClassName,
    tContains: TP.contains, tAdd: TP.add, tRemove: TP.remove, tToggle: TP.toggle, tReplace: TP.replace,
  };
  var idDesc = Object.getOwnPropertyDescriptor(EP, 'id');

  function all(root, sel) {
    var f = root.nodeType === 9 ? orig.dQSA : root.nodeType === 11 ? orig.fQSA : orig.eQSA;
    return Array.prototype.slice.call(f.call(root, sel));
  }
  function closest(el, sel) { return el && el.nodeType === 1 ? orig.closest.call(el, sel) : null; }
  function is(el, sel) { return !!el && el.nodeType === 1 && orig.matches.call(el, sel); }

  // ---- new names ------------------------------------------------------------

  // Names are a hash of the old name and the faults' ids: the same drift gives
  // the same page on every load, as a real redesign would.
  function hash(s) {
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0).toString(36);
  }
  var newIds = new Map(), oldIds = new Map(), newClasses = new Map(), oldClasses = new Map();
  function mapId(id) {
    if (id === '' || oldIds.has(id)) return id;
    var n = newIds.get(id);
    if (!n) {
      n = 'i' + hash(seed + '#' + id);
      newIds.set(id, n);
      oldIds.set(n, id);
    }
    return n;
  }
  function mapClass(c) {
    if (c === '' || oldClasses.has(c)) return c;
    var n = newClasses.get(c);
    if (!n) {
      n = 'css-' + hash(seed + '.' + c);
      newClasses.set(c, n);
      oldClasses.set(n, c);
    }
    return n;
  }
  function origClasses(el) {
    return (el.getAttribute('class') || '').split(/\s+/).map(function (c) { return oldClasses.get(c) || c; }).join(' ');
  }

  // translateSelector maps #id and .class in a CSS selector to the new names,
  // leaving attribute selectors and strings alone.
  var identRE = /^-?[_a-zA-Z\u00a0-\uffff][\w\u00a0-\uffff-]*/;
  function translateSelector(sel) {
    var out = '', i = 0, n = sel.length, brackets = 0, quote = '';
    while (i < n) {
      var ch = sel[i];
      if (ch === '\\') { out += sel.substr(i, 2); i += 2; continue; }
      if (quote) { if (ch === quote) quote = ''; out += ch; i++; continue; }
      if (ch === '"' || ch === "'") { quote = ch; out += ch; i++; continue; }
      if (ch === '[') brackets++;
      else if (ch === ']' && brackets > 0) brackets--;
      if ((ch === '#' || ch === '.') && brackets === 0) {
        var m = identRE.exec(sel.slice(i + 1));
        if (m && sel[i + 1 + m[0].length] !== '\\') {
          out += ch + (ch === '#' ? mapId(m[0]) : mapClass(m[0]));
          i += 1 + m[0].length;
          continue;
        }
      }
      out += ch;
      i++;
    }
    return out;
  }

  // ---- translation for the page's own scripts -------------------------------

  var busy = false; // drift.js itself is changing the page

  // fromPage tells whether the DOM call comes from a script of this portal
  // (a frame with this origin's URL), not from drift.js or from automation.
  function fromPage() {
    if (busy) return false;
    var stack = new Error().stack;
    if (!stack) return false;
    var lines = stack.split('\n');
    for (var i = 1; i < lines.length; i++) {
      var l = lines[i];
      if (l.indexOf(selfURL) >= 0 || l.indexOf('(<anonymous>)') >= 0 || l.indexOf('(native)') >= 0) continue;
      return l.indexOf(origin) >= 0;
    }
    return false;
  }

  function either(sel) {
    sel = String(sel);
    var t = translateSelector(sel);
    return t === sel ? sel : t + ',' + sel;
  }

  function wrapById(proto, f) {
    proto.getElementById = function getElementById(id) {
      var el = f.call(this, id);
      if (el || !fromPage()) return el;
      return f.call(this, mapId(String(id)));
    };
  }
  function wrapSel(proto, name, f) {
    proto[name] = function (sel) {
      if (arguments.length === 0 || !fromPage()) return f.apply(this, arguments);
      return f.call(this, either(sel));
    };
  }
  function wrapByClass(proto, f) {
    proto.getElementsByClassName = function getElementsByClassName(names) {
      var r = f.call(this, names);
      if (r.length || !fromPage()) return r;
      return f.call(this, String(names).split(/\s+/).map(mapClass).join(' '));
    };
  }
  wrapById(DP, orig.dById);
  wrapById(FP, orig.fById);
  wrapSel(DP, 'querySelector', orig.dQS);
  wrapSel(DP, 'querySelectorAll', orig.dQSA);
  wrapSel(EP, 'querySelector', orig.eQS);
  wrapSel(EP, 'querySelectorAll', orig.eQSA);
  wrapSel(FP, 'querySelector', orig.fQS);
  wrapSel(FP, 'querySelectorAll', orig.fQSA);
  wrapSel(EP, 'matches', orig.matches);
  wrapSel(EP, 'closest', orig.closest);
  wrapByClass(DP, orig.dByClass);
  wrapByClass(EP, orig.eByClass);

  if (idDesc && idDesc.get) {
    Object.defineProperty(EP, 'id', {
      configurable: true, enumerable: idDesc.enumerable, set: idDesc.set,
      get: function () {
        var v = idDesc.get.call(this);
        return oldIds.has(v) && fromPage() ? oldIds.get(v) : v;
      },
    });
  }

  // classList: a script that adds an old class gets it renamed by the next
  // pass; removing, toggling, replacing and testing must then find the new one.
  TP.contains = function contains(t) {
    return orig.tContains.call(this, t) || (fromPage() && orig.tContains.call(this, mapClass(String(t))));
  };
  TP.remove = function remove() {
    orig.tRemove.apply(this, arguments);
    if (fromPage()) orig.tRemove.apply(this, Array.prototype.map.call(arguments, function (t) { return mapClass(String(t)); }));
  };
  TP.toggle = function toggle(t, force) {
    if (!fromPage()) return orig.tToggle.apply(this, arguments);
    t = String(t);
    var has = orig.tContains.call(this, t) || orig.tContains.call(this, mapClass(t));
    var want = force === undefined ? !has : !!force;
    if (want && !has) orig.tAdd.call(this, t);
    if (!want && has) { orig.tRemove.call(this, t); orig.tRemove.call(this, mapClass(t)); }
    return want;
  };
  TP.replace = function replace(a, b) {
    if (!fromPage() || orig.tContains.call(this, a)) return orig.tReplace.call(this, a, b);
    return orig.tReplace.call(this, mapClass(String(a)), b);
  };

  // ---- removing actions -----------------------------------------------------

  var ACTIONS = 'button,a,[role=button],[role=link],input[type=submit],input[type=button],input[type=reset]';
  var outers = new WeakSet(), inners = new WeakSet();

  function actionText(el) { return norm(el.tagName === 'INPUT' ? el.value : el.textContent); }

  function removePass() {
    if (!removes.size) return;
    all(document.body, ACTIONS).forEach(function (el) {
      if (!el.isConnected || !removes.has(actionText(el))) return;
      var parent = el.parentNode;
      el.remove();
      // Wrappers drift.js added around it go too.
      while (parent && (inners.has(parent) || outers.has(parent)) && !parent.firstElementChild) {
        var up = parent.parentNode;
        parent.remove();
        parent = up;
      }
    });
  }

  // ---- texts ----------------------------------------------------------------

  var LABELS = 'label,button,a,th,dt,h1,h2,h3,h4,h5,h6,legend,summary,caption,' +
    '[role=button],[role=link],[role=tab],[role=columnheader],[role=rowheader],[role=heading],[role=menuitem]';
  var NO_TEXT = { SCRIPT: 1, STYLE: 1, TEXTAREA: 1, NOSCRIPT: 1, TEMPLATE: 1, TITLE: 1 };

  function setText(node, to) {
    var m = /^(\s*)[\s\S]*?(\s*)$/.exec(node.data);
    node.data = m[1] + to + m[2];
  }

  function textPass() {
    if (!renames.size && !statuses.size) return;
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (t) {
      var p = t.parentElement;
      if (!p || NO_TEXT[p.tagName] || p.isContentEditable) return;
      var v = norm(t.data);
      if (!v) return;
      if (renames.has(v)) {
        var target = closest(p, LABELS);
        if (target && (target === p || norm(target.textContent) === v)) {
          setText(t, renames.get(v));
          return;
        }
      }
      if (statuses.has(v) && norm(p.textContent) === v) setText(t, statuses.get(v));
    });
    if (!renames.size) return;
    all(document.body, '[aria-label]').forEach(function (el) {
      var v = norm(el.getAttribute('aria-label'));
      if (renames.has(v)) el.setAttribute('aria-label', renames.get(v));
    });
    // A button drawn by an <input> shows its value; a named one posts it, so it keeps it.
    all(document.body, 'input[type=submit]:not([name]),input[type=button],input[type=reset]').forEach(function (el) {
      var v = norm(el.value);
      if (renames.has(v)) el.value = renames.get(v);
    });
  }

  // ---- cosmetic redesign ----------------------------------------------------

  var CONTROLS = 'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]):not([type=image]),select,textarea';
  var BUTTONS = 'button,input[type=submit],input[type=button],input[type=reset],input[type=image]';
  var BLOCKS = { FORM: 1, FIELDSET: 1, SECTION: 1, TABLE: 1, THEAD: 1, TBODY: 1, TFOOT: 1, TR: 1, TD: 1, TH: 1, BODY: 1, MAIN: 1, HTML: 1, UL: 1, OL: 1, DL: 1 };
  var HINT = /error|hint|help|invalid|message|muted/i;

  function wrap(nodes) {
    var outer = document.createElement('div'), inner = document.createElement('div');
    outer.setAttribute('class', mapClass('drift-outer'));
    inner.setAttribute('class', mapClass('drift-inner'));
    outer.appendChild(inner);
    nodes[0].parentNode.insertBefore(outer, nodes[0]);
    nodes.forEach(function (n) { inner.appendChild(n); });
    outers.add(outer);
    inners.add(inner);
  }

  function hasAny(el, sel) { return is(el, sel) || all(el, sel).length > 0; }

  // fieldNodes is a control with its label and its error or hint texts, as
  // adjacent siblings; null when it is wrapped already.
  function fieldNodes(c) {
    var holder = closest(c, 'label'); // a label around its control
    var anchor = holder || c;
    var parent = anchor.parentNode;
    if (!parent || parent.nodeType !== 1 || inners.has(parent)) return null;
    var first = anchor, last = anchor;
    if (!holder && c.labels) {
      var label = Array.prototype.filter.call(c.labels, function (l) { return l.parentNode === parent; })[0];
      if (label) {
        var before = label.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING;
        var a = before ? label : c, b = before ? c : label, clean = true;
        for (var n = a.nextSibling; n && n !== b; n = n.nextSibling) {
          if (n.nodeType === 1 && hasAny(n, CONTROLS + ',' + BUTTONS + ',label')) clean = false;
        }
        if (clean) { first = a; last = b; }
      }
    }
    var described = (c.getAttribute('aria-describedby') || '').split(/\s+/);
    for (var m = last.nextSibling; m; m = m.nextSibling) {
      if (m.nodeType === 3 && !m.data.trim()) continue;
      if (m.nodeType === 1 && /^(SPAN|SMALL|P|DIV)$/.test(m.tagName) && !hasAny(m, CONTROLS + ',' + BUTTONS + ',label,a') &&
        (described.indexOf(m.getAttribute('id')) >= 0 || m.tagName === 'SMALL' || HINT.test(origClasses(m)))) {
        last = m;
        continue;
      }
      break;
    }
    var nodes = [];
    for (var k = first; ; k = k.nextSibling) {
      nodes.push(k);
      if (k === last) break;
    }
    return nodes;
  }

  function wrapPass() {
    all(document.body, CONTROLS).forEach(function (c) {
      var nodes = fieldNodes(c);
      if (nodes) wrap(nodes);
    });
    all(document.body, BUTTONS).forEach(function (b) {
      if (!inners.has(b.parentNode) && !closest(b, 'label')) wrap([b]);
    });
  }

  function outerOf(el) {
    var holder = closest(el, 'label');
    var inner = (holder && inners.has(holder.parentNode) ? holder : el).parentNode;
    return inners.has(inner) && outers.has(inner.parentNode) ? inner.parentNode : null;
  }

  // unitOf climbs from a field's wrapper to the largest block that holds
  // nothing but this one field (e.g. the app's own div.field).
  function unitOf(outer, onlyOne) {
    var u = outer;
    for (var p = u.parentNode; p && p.nodeType === 1 && !BLOCKS[p.tagName] && onlyOne(p); p = u.parentNode) u = p;
    return u;
  }

  // A block is reversed once, when drift.js first sees it: later changes
  // that keep some of its items (an app updating one field or cell) keep the
  // drifted order; an all-new set of items (a fresh render) is reversed again.
  var seen = new WeakSet();
  function reverseOnce(items) {
    var fresh = items.every(function (n) { return !seen.has(n); });
    if (items.length < 2) return;
    items.forEach(function (n) { seen.add(n); });
    if (!fresh) return;
    var parent = items[0].parentNode;
    var marks = items.map(function (n) {
      var m = document.createComment('');
      parent.insertBefore(m, n);
      return m;
    });
    marks.forEach(function (m, i) { parent.replaceChild(items[items.length - 1 - i], m); });
  }

  function reorderFields() {
    var byParent = new Map();
    all(document.body, CONTROLS).forEach(function (c) {
      var outer = outerOf(c);
      if (!outer || !closest(outer, 'form,fieldset,[role=form]') || closest(outer, 'td,th')) return;
      var u = unitOf(outer, function (p) { return all(p, CONTROLS).length === 1 && !all(p, BUTTONS).length; });
      var list = byParent.get(u.parentNode);
      if (!list) byParent.set(u.parentNode, (list = []));
      if (list.indexOf(u) < 0) list.push(u);
    });
    byParent.forEach(reverseOnce);
  }

  var moved = new WeakSet();
  function buttonsToTop() {
    var byBox = new Map();
    all(document.body, BUTTONS).forEach(function (b) {
      var form = closest(b, 'form');
      if (!form || (b.type !== 'submit' && !/primary/i.test(origClasses(b)))) return;
      var u = unitOf(outerOf(b) || b, function (p) {
        return all(p, BUTTONS).length === 1 && !all(p, CONTROLS + ',a').length;
      });
      // The top of the form, or of the fieldset or section (a wizard step) of the form it is in.
      var box = closest(u.parentNode, 'form,fieldset,section');
      if (!box) return;
      var list = byBox.get(box);
      if (!list) byBox.set(box, (list = []));
      list.push(u);
    });
    byBox.forEach(function (units, box) {
      var top = true;
      units.forEach(function (u, i) { top = top && box.children[i] === u && moved.has(u); });
      if (top) return;
      var ref = box.firstChild;
      units.forEach(function (u) {
        moved.add(u);
        if (u === ref) { ref = ref.nextSibling; return; }
        box.insertBefore(u, ref);
      });
    });
  }

  function reverseColumns() {
    all(document.body, 'tr').forEach(function (tr) {
      reverseOnce(Array.prototype.filter.call(tr.children, function (c) { return c.tagName === 'TD' || c.tagName === 'TH'; }));
    });
  }

  var REFS = ['for', 'form', 'list', 'headers', 'aria-labelledby', 'aria-describedby', 'aria-controls', 'aria-owns',
    'aria-activedescendant', 'aria-flowto', 'aria-details', 'aria-errormessage'];

  function renameAll() {
    all(document, '[id]').forEach(function (el) {
      var v = el.getAttribute('id');
      if (v && !oldIds.has(v)) el.setAttribute('id', mapId(v));
    });
    REFS.forEach(function (a) {
      all(document, '[' + a + ']').forEach(function (el) {
        var v = el.getAttribute(a), nv = v.split(/(\s+)/).map(function (t) { return /\s/.test(t) ? t : mapId(t); }).join('');
        if (nv !== v) el.setAttribute(a, nv);
      });
    });
    all(document, '[class]').forEach(function (el) {
      var v = el.getAttribute('class'), nv = v.split(/(\s+)/).map(function (t) { return /\s/.test(t) ? t : mapClass(t); }).join('');
      if (nv !== v) el.setAttribute('class', nv);
    });
  }

  // Style sheets follow the new names, so the page keeps its look and what
  // was hidden stays hidden.
  var sheetRules = new WeakMap();
  function restyle() {
    Array.prototype.forEach.call(document.styleSheets, function (sheet) {
      var rules;
      try { rules = sheet.cssRules; } catch (e) { return; } // another origin's sheet
      if (!rules || sheetRules.get(sheet) === rules.length) return;
      sheetRules.set(sheet, rules.length);
      (function walk(list) {
        Array.prototype.forEach.call(list, function (r) {
          if (r.selectorText !== undefined) {
            var t = translateSelector(r.selectorText);
            if (t !== r.selectorText) r.selectorText = t;
          }
          if (r.cssRules) walk(r.cssRules);
        });
      })(rules);
    });
  }

  function cosmeticPass() {
    wrapPass();
    reorderFields();
    buttonsToTop();
    reverseColumns();
    renameAll();
    restyle();
  }

  // ---- running: now, and after every change of the page ----------------------

  var observer = new MutationObserver(schedule);
  function observe() {
    observer.observe(document.documentElement, {
      childList: true, subtree: true, characterData: true, attributes: true,
      attributeFilter: ['id', 'class', 'value', 'aria-label'].concat(REFS),
    });
  }

  function run() {
    if (busy || !document.body) return;
    busy = true;
    observer.disconnect(); // drift.js's own changes must not wake it again
    try {
      removePass();
      textPass();
      if (cosmetic) cosmeticPass();
    } catch (e) {
      if (window.console) console.error('drift.js:', e);
    } finally {
      observer.takeRecords();
      observe();
      busy = false;
    }
  }

  // A page that answers every change by changing itself again (or a bug)
  // must not freeze the tab: past 50 runs in a second, runs are spaced out.
  var windowStart = 0, runsInWindow = 0, timer = 0;
  function schedule() {
    var now = Date.now();
    if (now - windowStart > 1000) { windowStart = now; runsInWindow = 0; }
    if (timer) return;
    if (++runsInWindow > 50) {
      timer = setTimeout(function () { timer = 0; run(); }, 250);
      return;
    }
    run();
  }

  // Style sheets that load later (a <link> added by an app) are restyled on load.
  document.addEventListener('load', function (e) {
    if (cosmetic && e.target && e.target.tagName === 'LINK') schedule();
  }, true);

  if (document.body) run(); else document.addEventListener('DOMContentLoaded', run);
  observe();
})();
