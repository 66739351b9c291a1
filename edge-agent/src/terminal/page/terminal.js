// The operators' line terminal: one station's running work order, the components still to
// issue, the work-order queue, the last scans and a scan input for keyboard-wedge scanners.
//
// Plain JavaScript, no build step and nothing from outside the edge, so it runs while the
// plant's network is down. The station view comes from the edge's server-sent events
// (`/api/v1/stations/{station}/events`); a scan is posted to `/api/v1/scans`, and the edge
// answers only after the scan's event is committed, so the green banner and the "accepted"
// tone never come before the commit.
'use strict';

(function () {
  // ---- Texts ---------------------------------------------------------------------------
  // Every visible text in both languages. `{name}` is replaced by the parameter of that name;
  // a text whose parameters are missing falls back to the edge's English message.
  const TEXTS = {
    en: {
      title: 'Line terminal',
      pick_station: 'Choose your station',
      no_stations: 'This edge has no stations yet: it needs a plan with work orders for its stations.',
      unknown_station: 'Station {station} is not known to this edge.',
      sign_in_prompt: 'Sign in: scan your badge',
      signed_in_as: 'Operator {operator}',
      sign_out: 'Sign out',
      scan_label: 'Scan',
      scan_placeholder: 'Scan here',
      keyboard: 'Show the on-screen keyboard',
      ready: 'Ready to scan',
      checking: 'Checking…',
      result_accepted: 'Accepted',
      result_rejected: 'Rejected',
      result_not_stored: 'Not stored — scan again',
      request_failed: 'The edge did not answer: {detail}',
      scans: 'Last scans',
      no_scans: 'No scans yet',
      work_order: 'Work order',
      no_work_order: 'No work order running: tap one below or scan its label',
      operation: 'operation {operation}',
      target: 'Target',
      good: 'Good',
      scrap: 'Scrap',
      components: 'Components to issue',
      no_components: 'No components listed for this operation',
      component_item: 'Item',
      required: 'Required',
      issued: 'Issued',
      open: 'Open',
      queue: 'Work orders',
      queue_empty: 'No work orders for this station',
      due: 'due {due}',
      made_for: 'For {customer} · {order}',
      promised: 'promised {date}',
      on_hold: 'On hold',
      running: 'Running',
      location: 'Location {location}',
      plan_version: 'Plan version {version}',
      central_offline: 'Central unreachable — working locally',
      edge_offline: 'Edge not answering — reconnecting…',
      complete_lot_qty: 'Finished quantity',
      complete_lot: 'Complete lot',
      lot_completed: 'Lot {lot} completed',
      qty_needed: 'Enter the finished quantity first',
      label: 'Label',
      pair_other: 'Pair a terminal',
      not_paired_title: 'This terminal is not paired',
      not_paired_text: 'It shows the station, but scans and buttons need a terminal paired with the edge.',
      ask_pairing: 'Pair this terminal',
      pairing_code_text: 'Ask a supervisor to confirm this code:',
      pairing_code: 'Code',
      pairing_waiting: 'Waiting for a supervisor…',
      pairing_done: 'Paired',
      pairing_expired: 'The code expired; ask again',
      badge: 'Badge',
      pin: 'PIN',
      ok: 'OK',
      cancel: 'Cancel',
      pin_title: 'Sign in with your PIN',
      pin_text: 'Badge {operator} signs in with a PIN.',
      approve_title: 'A supervisor approves',
      approve_text: 'This lot goes beyond the work order: a supervisor enters badge and PIN.',
      confirm_title: 'Confirm a terminal',
      confirm_text: 'The code the other terminal shows, and your supervisor badge and PIN.',
      confirmed: 'Terminal paired for {stations}',
      over_production: 'Over-production: {good} good against {qty} {uom} (at most {allowed} with the tolerance)',
      not_counting: 'Complete: parts counted here are no longer booked to {work_order}; they are kept unassigned',
      by_plan: 'Counted into this order by the plan: tap or scan a work order to start it',
      unassigned: 'Unassigned here: {good} good, {scrap} scrap (booked to no work order)',
      stop_open: 'Stopped since {since}, no reason: pick one',
      stop_ended: 'Stopped {since}–{ended}, no reason: pick one',
      stop_planned: 'planned',
      stop_reason_text: 'Reason for the stop',
      stop_reason_send: 'Record reason',
      stop_reason_needed: 'Enter the reason for the stop first',
      reason_too_long: 'The reason is too long: at most 1024 bytes',
      spc_alarms: 'SPC alarm: the process is out of control',
      spc_alarm: '{characteristic}: rule {rule} broken at {value} ({at})',
      ask_material: 'Ask for material',
      ask_text: 'More than {work_order} may take: a supervisor approves it, then it can be issued.',
      ask_other_option: 'Another item…',
      ask_other_item: 'Item number',
      ask_qty: 'Quantity',
      ask_uom: 'Unit',
      ask_reason: 'Why is it needed?',
      ask_send: 'Send',
      ask_item_needed: 'Choose or type the item first',
      ask_qty_needed: 'Enter a quantity above zero',
      ask_uom_needed: 'Enter the unit of {item}',
      ask_reason_needed: 'Say why the material is needed',
      requisitions: 'Material requisitions',
      hint_ask_more: 'ask for more material at the terminal',
      hint_waiting: 'the requisition for {waiting_qty} {waiting_uom} asked at {waiting_at} is waiting for approval',
      hint_approved: 'within the {approved} {uom} approved by requisition',
      plus_approved: '+{qty} {uom} approved',
      req_offline: 'waiting to be sent: central is unreachable',
      req_sending: 'sent, waiting for central',
      req_waiting: 'waiting for approval ({number})',
      req_approved: 'approved by {decided_by}',
      req_rejected: 'rejected by {decided_by}',
      req_asked: 'asked {at} by {operator}',
    },
    zh: {
      title: '产线终端',
      pick_station: '请选择工位',
      no_stations: '本边缘节点还没有工位：需要包含本工位工单的生产计划。',
      unknown_station: '本边缘节点没有工位 {station}。',
      sign_in_prompt: '请登录：扫描您的工牌',
      signed_in_as: '操作员 {operator}',
      sign_out: '退出登录',
      scan_label: '扫描',
      scan_placeholder: '请在此扫描',
      keyboard: '显示屏幕键盘',
      ready: '请扫描',
      checking: '正在核对…',
      result_accepted: '已接受',
      result_rejected: '已拒绝',
      result_not_stored: '未保存 — 请重新扫描',
      request_failed: '边缘节点无响应：{detail}',
      scans: '最近扫描',
      no_scans: '尚无扫描',
      work_order: '工单',
      no_work_order: '没有正在生产的工单：请点击下方工单或扫描工单标签',
      operation: '工序 {operation}',
      target: '目标',
      good: '良品',
      scrap: '废品',
      components: '待发物料',
      no_components: '本工序没有列出物料',
      component_item: '物料',
      required: '需求',
      issued: '已发',
      open: '未发',
      queue: '工单',
      queue_empty: '本工位没有工单',
      due: '交期 {due}',
      made_for: '客户 {customer} · 订单 {order}',
      promised: '承诺交期 {date}',
      on_hold: '已冻结',
      running: '生产中',
      location: '库位 {location}',
      plan_version: '计划版本 {version}',
      central_offline: '无法连接中心 — 本地继续工作',
      edge_offline: '边缘节点无响应 — 正在重新连接…',
      complete_lot_qty: '完工数量',
      complete_lot: '完工入批',
      lot_completed: '批次 {lot} 已完工',
      qty_needed: '请先输入完工数量',
      label: '标签',
      pair_other: '配对终端',
      not_paired_title: '本终端尚未配对',
      not_paired_text: '可以查看本工位，但扫描和按钮需要与边缘节点配对的终端。',
      ask_pairing: '配对本终端',
      pairing_code_text: '请主管确认此代码：',
      pairing_code: '代码',
      pairing_waiting: '等待主管确认…',
      pairing_done: '已配对',
      pairing_expired: '代码已过期，请重新申请',
      badge: '工牌',
      pin: '密码',
      ok: '确定',
      cancel: '取消',
      pin_title: '输入密码登录',
      pin_text: '工牌 {operator} 需要密码登录。',
      approve_title: '主管批准',
      approve_text: '此批次超出工单数量：需主管输入工牌和密码。',
      confirm_title: '确认终端',
      confirm_text: '输入另一终端显示的代码，以及您的主管工牌和密码。',
      confirmed: '终端已配对：{stations}',
      over_production: '超产：良品 {good}，工单数量 {qty} {uom}（含允差最多 {allowed}）',
      not_counting: '已完工：本工位计数不再计入 {work_order}，记为未分配',
      by_plan: '按生产计划计入此工单：点击或扫描工单即可开工',
      unassigned: '本工位未分配计数：良品 {good}，废品 {scrap}（未计入任何工单）',
      stop_open: '自 {since} 停机，未填原因：请选择',
      stop_ended: '{since}–{ended} 停机，未填原因：请选择',
      stop_planned: '计划内',
      stop_reason_text: '停机原因',
      stop_reason_send: '记录原因',
      stop_reason_needed: '请先输入停机原因',
      reason_too_long: '原因太长：最多 1024 字节',
      spc_alarms: 'SPC 报警：过程失控',
      spc_alarm: '{characteristic}：第 {rule} 条判异规则，值 {value}（{at}）',
      ask_material: '申请领料',
      ask_text: '超出工单 {work_order} 的用量：主管批准后即可发料。',
      ask_other_option: '其他物料…',
      ask_other_item: '物料编号',
      ask_qty: '数量',
      ask_uom: '单位',
      ask_reason: '领料原因',
      ask_send: '提交申请',
      ask_item_needed: '请先选择或输入物料',
      ask_qty_needed: '请输入大于零的数量',
      ask_uom_needed: '请输入 {item} 的单位',
      ask_reason_needed: '请填写领料原因',
      requisitions: '领料申请',
      hint_ask_more: '如需更多物料，请在终端申请领料',
      hint_waiting: '{waiting_at} 申请的 {waiting_qty} {waiting_uom} 正在等待审批',
      hint_approved: '在已批准的领料申请 {approved} {uom} 之内',
      plus_approved: '+{qty} {uom} 已批准',
      req_offline: '待发送：无法连接中心',
      req_sending: '已发送，等待中心接收',
      req_waiting: '等待审批（{number}）',
      req_approved: '{decided_by} 已批准',
      req_rejected: '{decided_by} 已驳回',
      req_asked: '{operator} 于 {at} 申请',
    },
  };

  // Why a scan was refused, by the edge's reason code.
  const REASONS = {
    en: {
      unknown_code: 'Unreadable code: {detail}',
      disk_full: 'Disk full: nothing is stored until space is freed on the edge',
      journal_full: 'Journal full: nothing is stored until central takes the backlog',
      journal_error: 'The edge cannot store anything now: call maintenance',
      no_plan: 'No plan on this edge yet',
      unknown_work_order: 'Unknown work order {work_order}',
      work_order_not_at_station: 'Work order {work_order} does not run at station {station}',
      work_order_on_hold: 'Work order {work_order} is on hold',
      no_work_order: 'No work order running: start one first',
      wrong_item: 'Wrong item: {item} is not used at operation {operation}',
      expired: 'Expired: lot {lot} could be used until {expires}',
      on_hold: 'On hold: lot {lot} ({reason})',
      over_issue: 'Too much: {qty} {uom} of {item}, only {open} {uom} still open',
      unknown_item: 'Unknown item: GTIN {gtin}',
      missing_lot: 'The label has no lot number',
      missing_quantity: 'The label has no quantity',
      other_station: 'Wrong station: this label is for station {station}',
      wrong_unit: 'Wrong unit: {item} is counted in {expected}, not in {uom}',
      already_issued: 'Lot {lot} was already issued to {work_order}',
      not_signed_in: 'Nobody is signed in at this station: scan your badge first',
      bad_quantity: 'Quantity {qty} {uom} is not accepted',
      unknown_badge: 'Badge {operator} is not registered for this line',
      pin_required: 'Badge {operator} needs a PIN',
      wrong_pin: 'Wrong PIN for badge {operator}',
      pin_locked: 'Too many wrong PINs for badge {operator}: wait a few minutes',
      missing_skill: '{operator} is not qualified for {work_order} ({skill})',
      over_completion: 'Beyond the work order: at most {open} {uom} more without a supervisor',
      not_paired: 'This terminal is not paired with the edge',
      no_stock: 'No stock: lot {lot} has {on_hand} {uom} at {location}, {qty} {uom} scanned',
      lot_item_mismatch: 'Wrong label: lot {lot} is {expected}, the label says {item}',
      no_open_stop: 'No stop without a reason at this station (already recorded?)',
      other_stop: 'That stop is no longer the last one: pick the reason for the stop since {last}',
      unknown_stop_reason: '{reason} is not one of the plant\'s stop reasons',
      bad_reason: 'The reason is not accepted: {detail}',
      order_not_open: 'Sales order {order} has nothing open to ship here',
      location_first: 'Scan the location first: where is lot {lot} picked from?',
      not_on_order: '{item} is not on order {order}, which ships {items}',
      over_ship: 'Too much: {qty} {uom} of {item}, order {order} still takes {open} {uom}',
      wrong_location: 'Wrong place: lot {lot} is at {expected}, not at {location}',
      already_shipped: 'Lot {lot} was already shipped on {order}',
      no_unit: '{item} is not a component of this operation: enter its unit',
      no_reason: 'Say why the material is needed',
      too_many_requisitions: 'Too many requisitions for {work_order}: ask a supervisor',
      bad_request: 'Not accepted: the item or the unit is not valid',
    },
    zh: {
      unknown_code: '无法识别的条码：{code}',
      disk_full: '磁盘已满：释放边缘节点空间之前不保存任何数据',
      journal_full: '日志已满：中心接收积压数据之前不保存任何数据',
      journal_error: '边缘节点现在无法保存数据：请联系维护人员',
      no_plan: '本边缘节点尚无生产计划',
      unknown_work_order: '未知工单 {work_order}',
      work_order_not_at_station: '工单 {work_order} 不在工位 {station} 生产',
      work_order_on_hold: '工单 {work_order} 已冻结',
      no_work_order: '没有正在生产的工单：请先开工',
      wrong_item: '物料错误：工序 {operation} 不使用 {item}',
      expired: '批次已过期：{lot} 有效期至 {expires}',
      on_hold: '批次已冻结：{lot}（{reason}）',
      over_issue: '超量发料：{item} {qty} {uom}，仅剩 {open} {uom} 未发',
      unknown_item: '未知物料：GTIN {gtin}',
      missing_lot: '标签缺少批次号',
      missing_quantity: '标签缺少数量',
      other_station: '工位错误：此标签属于工位 {station}',
      wrong_unit: '单位错误：{item} 应以 {expected} 计，而不是 {uom}',
      already_issued: '批次 {lot} 已发料给工单 {work_order}',
      not_signed_in: '本工位无人登录：请先扫描工牌',
      bad_quantity: '数量 {qty} {uom} 不被接受',
      unknown_badge: '工牌 {operator} 未在本产线登记',
      pin_required: '工牌 {operator} 需要输入密码',
      wrong_pin: '工牌 {operator} 密码错误',
      pin_locked: '工牌 {operator} 密码错误次数过多：请稍候再试',
      missing_skill: '{operator} 没有 {work_order} 所需资质（{skill}）',
      over_completion: '超出工单数量：无主管批准最多还可完工 {open} {uom}',
      not_paired: '本终端尚未与边缘节点配对',
      no_stock: '库存不足：批次 {lot} 在 {location} 仅有 {on_hand} {uom}，扫描 {qty} {uom}',
      lot_item_mismatch: '标签错误：批次 {lot} 是 {expected}，标签写的是 {item}',
      no_open_stop: '本工位没有未填原因的停机（可能已记录）',
      other_stop: '该停机已不是最近一次：请为 {last} 起的停机选择原因',
      unknown_stop_reason: '{reason} 不在本厂的停机原因列表中',
      bad_reason: '停机原因不被接受：{detail}',
      order_not_open: '销售订单 {order} 在此没有待发货的行',
      location_first: '请先扫描库位：批次 {lot} 从哪里拣货？',
      not_on_order: '{item} 不在订单 {order} 上，该订单发货物料：{items}',
      over_ship: '超量发货：{item} {qty} {uom}，订单 {order} 仅剩 {open} {uom}',
      wrong_location: '库位错误：批次 {lot} 在 {expected}，不在 {location}',
      already_shipped: '批次 {lot} 已在订单 {order} 发货',
      no_unit: '{item} 不是本工序的物料：请填写单位',
      no_reason: '请填写领料原因',
      too_many_requisitions: '工单 {work_order} 的领料申请过多：请联系主管',
      bad_request: '不被接受：物料或单位无效',
    },
  };

  // What an accepted scan did, by the edge's action code.
  const ACTIONS = {
    en: {
      signed_in: 'Signed in: {operator}',
      signed_out: 'Signed out: {operator}',
      started: 'Started {work_order}, operation {operation}',
      issued: 'Issued {qty} {uom} of {item}, lot {lot}',
      location_set: 'Location set: {location}',
      location_cleared: 'Location cleared: {location}',
      received: 'Received {qty} {uom} of {item}, lot {lot}, at {location}',
      moved: 'Moved {qty} {uom} of {item}, lot {lot}: {from} → {to}',
      station_checked: 'Station {station} confirmed',
      lot_completed: 'Lot {lot} completed: {qty} {uom}',
      lot_completed_for: 'Lot {lot} completed: {qty} {uom}, for {customer} ({order})',
      stop_reason_given: 'Reason recorded: {reason} (stop since {since})',
      shipping_started: 'Shipping {order} to {customer}: scan the location to pick from',
      pick_location_set: 'Picking from {location} for {order}',
      shipped: 'Shipped {qty} {uom} of {item}, lot {lot}, on {order}; still open: {open}',
      shipment_closed: 'Shipment of {order} closed: {lots} lots',
      material_requested: 'Asked for {qty} {uom} of {item} for {work_order}: waiting for approval',
    },
    zh: {
      signed_in: '已登录：{operator}',
      signed_out: '已退出：{operator}',
      started: '已开工：{work_order} 工序 {operation}',
      issued: '已发料：{item} 批次 {lot} {qty} {uom}',
      location_set: '库位已设定：{location}',
      location_cleared: '库位已清除：{location}',
      received: '已收货：{item} 批次 {lot} {qty} {uom}，库位 {location}',
      moved: '已移库：{item} 批次 {lot} {qty} {uom}：{from} → {to}',
      station_checked: '工位已确认：{station}',
      lot_completed: '批次 {lot} 已完工：{qty} {uom}',
      lot_completed_for: '批次 {lot} 已完工：{qty} {uom}，客户 {customer}（{order}）',
      stop_reason_given: '停机原因已记录：{reason}（{since} 起的停机）',
      shipping_started: '开始发货：{order}（{customer}），请扫描拣货库位',
      pick_location_set: '从 {location} 拣货，订单 {order}',
      shipped: '已发货：{item} 批次 {lot} {qty} {uom}，订单 {order}；未发：{open}',
      shipment_closed: '订单 {order} 本次发货结束：{lots} 个批次',
      material_requested: '已申请领料：{item} {qty} {uom}（工单 {work_order}），等待审批',
    },
  };

  // What an accepted scan warns about, by the edge's warning code.
  const WARNINGS = {
    en: {
      over_required: 'Warning: {issued} {uom} of {item} issued, {required} {uom} required',
      negative_stock: 'Warning: lot {lot} has only {on_hand} {uom} at {location} in stock',
    },
    zh: {
      over_required: '警告：{item} 已发 {issued} {uom}，需求 {required} {uom}',
      negative_stock: '警告：批次 {lot} 在 {location} 库存仅 {on_hand} {uom}',
    },
  };

  const LANGS = ['en', 'zh'];
  const HTML_LANG = { en: 'en', zh: 'zh-CN' };
  const GS = '\u001d';

  // ---- State ---------------------------------------------------------------------------
  const params = new URLSearchParams(window.location.search);
  const station = params.get('station');
  let lang = pickLanguage();
  let view = null; // the last StationView
  let lastOutcome = null; // what the banner shows: {state, outcome?, error?}
  const rendered = {}; // JSON of what each section last showed, to rebuild only what changed
  let events = null; // the EventSource
  let streamOpen = false;
  let scanChain = Promise.resolve(); // scans are posted one after another, in scan order
  let session = { paired: false, stations: [], csrf: null }; // GET /api/v1/session
  let dialogDone = null; // what the open dialog does with its fields
  let audio = null;
  let stopReasons = []; // the plant's stop reasons, as the last stop shown listed them

  // For the browser test and for a curious technician: what the page did, in order.
  const record = { beeps: [], scans: 0, views: 0 };

  function pickLanguage() {
    const asked = params.get('lang');
    if (LANGS.includes(asked)) return asked;
    let saved = null;
    try {
      saved = window.localStorage.getItem('mes.terminal.lang');
    } catch (e) {
      saved = null; // storage can be off (private mode); the browser's language decides then
    }
    if (LANGS.includes(saved)) return saved;
    const nav = (navigator.language || 'en').toLowerCase();
    return nav.startsWith('zh') ? 'zh' : 'en';
  }

  // ---- Small helpers -------------------------------------------------------------------
  function $(id) {
    return document.getElementById(id);
  }

  // An element with attributes and children (strings become text nodes: nothing from the
  // network is ever parsed as HTML).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // A decimal as the edge sends it ("225.000") written plainly ("225"): no grouping, no
  // exponent, no trailing zeros.
  function plain(value) {
    if (value === null || value === undefined) return '—';
    const text = String(value);
    if (/^-?\d+\.\d+$/.test(text)) return text.replace(/0+$/, '').replace(/\.$/, '');
    return text;
  }

  // Fills `{name}` placeholders; null when one is missing, so the caller can fall back.
  function fill(template, values) {
    let missing = false;
    const text = template.replace(/\{(\w+)\}/g, (_, name) => {
      const value = values ? values[name] : undefined;
      if (value === undefined || value === null) {
        missing = true;
        return '';
      }
      return plain(value);
    });
    return missing ? null : text;
  }

  function t(key, values) {
    const template = TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
    return fill(template, values) ?? template.replace(/\{\w+\}/g, '—');
  }

  // The sentence for a scan outcome (or a scan in the view's list) in the chosen language.
  function describe(outcome) {
    let template = null;
    if ((outcome.result === 'rejected' || outcome.result === 'not_stored') && outcome.reason) template = REASONS[lang][outcome.reason];
    if (outcome.result === 'accepted' && outcome.action) template = ACTIONS[lang][outcome.action];
    // A lot made to order says whom it is for.
    if (outcome.action === 'lot_completed' && outcome.params && outcome.params.customer) {
      template = ACTIONS[lang].lot_completed_for;
    }
    const params = Object.assign({}, outcome.params);
    if (outcome.lot && !params.lot) params.lot = outcome.lot;
    if (outcome.reason === 'on_hold' && !params.reason) params.reason = '—';
    // A stop reason is said by its name in the chosen language, its times as the clock shows.
    if (outcome.action === 'stop_reason_given' || outcome.reason === 'unknown_stop_reason') {
      params.reason = reasonName(params.reason);
    }
    for (const key of ['since', 'last']) if (params[key]) params[key] = hhmm(params[key]);
    // What was scanned, for texts that name it (GS shown as <GS>, as in the list of scans):
    // the edge's `detail` for unknown_code is an English sentence, so the Chinese text names
    // the scanned code instead.
    if (!params.code && outcome.raw !== undefined) params.code = String(outcome.raw).split(GS).join('<GS>');
    let text = template ? fill(template, params) : null;
    // Beyond what the order takes: a requisition waiting, or how to ask for one; within an
    // approved one, said so.
    if (text && outcome.result === 'rejected') {
      if (params.waiting_qty) text = `${text}; ${t('hint_waiting', params)}`;
      else if (outcome.reason === 'over_issue') text = `${text}; ${t('hint_ask_more')}`;
    }
    if (text && outcome.result === 'accepted' && params.approved && !outcome.warning) {
      text = `${text}; ${t('hint_approved', params)}`;
    }
    const said = text ?? outcome.message ?? '';
    // An accepted scan's warning is said after what it did (the edge's message holds both).
    if (text && outcome.result === 'accepted' && outcome.warning) {
      const warning = WARNINGS[lang][outcome.warning];
      const warned = warning ? fill(warning, params) : null;
      return warned ? `${said} — ${warned}` : outcome.message || said;
    }
    return said;
  }

  function headline(result) {
    if (result === 'accepted') return t('result_accepted');
    if (result === 'rejected') return t('result_rejected');
    return t('result_not_stored');
  }

  function clock(at) {
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return '';
    const two = (n) => String(n).padStart(2, '0');
    return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  }

  // A time as hours and minutes on the terminal's clock.
  function hhmm(at) {
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return String(at);
    const two = (n) => String(n).padStart(2, '0');
    return `${two(date.getHours())}:${two(date.getMinutes())}`;
  }

  // A stop reason's name in the chosen language (the Chinese name where the plant gave one),
  // or the code itself when the plant's list does not name it.
  function reasonName(code) {
    const reason = stopReasons.find((r) => r.code === code);
    if (!reason) return code;
    return lang === 'zh' && reason.name_zh ? reason.name_zh : reason.name;
  }

  function stationPath(suffix) {
    return `/api/v1/stations/${encodeURIComponent(station)}${suffix || ''}`;
  }

  // The edge's error shape, `{"error":{"code","message"}}`, or the HTTP status.
  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) {
      // not JSON: the status says enough
    }
    return `HTTP ${response.status}`;
  }

  // ---- Sound ---------------------------------------------------------------------------
  // Browsers allow audio only after a user gesture; the first key or touch unlocks it.
  function unlockAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      try {
        audio = new Context();
      } catch (e) {
        audio = null;
      }
    }
    if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
  }

  // A high short tone for accepted, a low long one for anything else.
  function beep(accepted) {
    record.beeps.push(accepted ? 'accepted' : 'rejected');
    unlockAudio();
    if (!audio) return;
    const start = audio.currentTime + 0.01;
    const length = accepted ? 0.12 : 0.6;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = accepted ? 'sine' : 'square';
    osc.frequency.value = accepted ? 1760 : 220;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.4, start + 0.01);
    gain.gain.setValueAtTime(0.4, start + length - 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + length + 0.02);
  }

  // ---- The banner ----------------------------------------------------------------------
  function showBanner() {
    const banner = $('banner');
    const state = lastOutcome ? lastOutcome.state : 'idle';
    banner.className = state;
    banner.dataset.result = lastOutcome && lastOutcome.outcome ? lastOutcome.outcome.result : '';
    banner.dataset.reason = lastOutcome && lastOutcome.outcome ? lastOutcome.outcome.reason || '' : '';
    banner.dataset.warning = lastOutcome && lastOutcome.outcome ? lastOutcome.outcome.warning || '' : '';
    let head = t('ready');
    let detail = '';
    if (state === 'pending') {
      head = t('checking');
      detail = lastOutcome.code || '';
    } else if (lastOutcome && lastOutcome.outcome) {
      head = headline(lastOutcome.outcome.result);
      detail = describe(lastOutcome.outcome);
      if (!detail && lastOutcome.outcome.lot) detail = t('lot_completed', { lot: lastOutcome.outcome.lot });
    } else if (lastOutcome && lastOutcome.error) {
      head = t('result_not_stored');
      detail = lastOutcome.error.key ? t(lastOutcome.error.key, lastOutcome.error.values) : '';
    }
    $('banner-head').textContent = head;
    $('banner-detail').textContent = detail;
    // A completed lot's label, to print again from the browser if the printer missed it.
    const label = $('banner-label');
    const lot = lastOutcome && lastOutcome.outcome && lastOutcome.outcome.result === 'accepted'
      ? lastOutcome.outcome.lot : null;
    label.hidden = !lot;
    label.textContent = t('label');
    if (lot) label.href = lastOutcome.outcome.label_png || `/api/v1/labels/${encodeURIComponent(lot)}.png`;
  }

  // What the edge answered for one request: shown and sounded only now, after the commit.
  function answer(outcome) {
    let state = outcome.result === 'accepted' ? 'accepted' : 'rejected';
    if (state === 'accepted' && outcome.warning) state = 'warning';
    lastOutcome = { state, outcome };
    showBanner();
    beep(outcome.result === 'accepted');
  }

  function failed(key, values) {
    lastOutcome = { state: 'rejected', error: { key, values } };
    showBanner();
    beep(false);
  }

  // ---- Requests ------------------------------------------------------------------------
  // Every request that changes something carries the session's CSRF token.
  function postRaw(path, body) {
    const headers = { 'content-type': 'application/json' };
    if (session.csrf) headers['x-csrf-token'] = session.csrf;
    return fetch(path, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  }

  async function post(path, body) {
    let response;
    try {
      response = await postRaw(path, body);
    } catch (e) {
      failed('request_failed', { detail: String(e.message || e) });
      return null;
    }
    if (response.status === 401) {
      // The pairing was revoked (or never was): the page says so and offers pairing.
      await loadSession();
      failed('request_failed', { detail: await errorText(response) });
      return null;
    }
    if (!response.ok) {
      failed('request_failed', { detail: await errorText(response) });
      return null;
    }
    try {
      return await response.json();
    } catch (e) {
      failed('request_failed', { detail: String(e.message || e) });
      return null;
    }
  }

  // Posts the scan and shows the edge's answer; scans queue up behind each other so a fast
  // scanner's codes are checked in the order they were read.
  function submitScan(code) {
    if (!code) return;
    record.scans += 1;
    scanChain = scanChain.then(async () => {
      lastOutcome = { state: 'pending', code };
      showBanner();
      const outcome = await post('/api/v1/scans', { station, code });
      if (outcome) answer(Object.assign({ raw: code }, outcome));
      if (outcome && outcome.reason === 'pin_required') askPin(outcome.params.operator);
      if (!streamOpen) await refresh();
    });
  }

  // An operator whose badge needs a PIN: the PIN pad, then sign-in with badge and PIN.
  function askPin(badge) {
    openDialog('pin_title', t('pin_text', { operator: badge }), { badge, code: false }, async (fields) => {
      scanChain = scanChain.then(async () => {
        const outcome = await post(stationPath('/sign-in'), { badge, pin: fields.pin });
        if (outcome) answer(Object.assign({ raw: `sign in: ${badge}` }, outcome));
        if (!streamOpen) await refresh();
      });
    });
  }

  async function signOut() {
    scanChain = scanChain.then(async () => {
      const outcome = await post(stationPath('/sign-out'), {});
      if (outcome) answer(Object.assign({ raw: 'sign out' }, outcome));
      if (!streamOpen) await refresh();
    });
  }

  async function completeLot() {
    const input = $('lot-qty');
    const qty = input.value.trim();
    if (!qty) {
      failed('qty_needed');
      return;
    }
    const send = (approvedBy) => {
      scanChain = scanChain.then(async () => {
        const body = approvedBy ? { qty, approved_by: approvedBy } : { qty };
        const outcome = await post(stationPath('/lots'), body);
        if (outcome) {
          answer(outcome);
          if (outcome.result === 'accepted') input.value = '';
          // Beyond the order: a supervisor may approve it here and now.
          if (outcome.reason === 'over_completion' && !approvedBy) {
            openDialog('approve_title', t('approve_text'), { code: false }, (fields) =>
              send({ badge: fields.badge, pin: fields.pin }));
          }
        }
        if (!streamOpen) await refresh();
      });
    };
    send(null);
    focusScan();
  }

  // The reason for the station's stop that began at `since`: green only once the edge has
  // committed it, red with the edge's reason when it refused.
  function giveStopReason(reason, since) {
    scanChain = scanChain.then(async () => {
      lastOutcome = { state: 'pending', code: reasonName(reason) };
      showBanner();
      const outcome = await post(stationPath('/stop-reason'), { reason, since });
      if (outcome) {
        answer(outcome);
        if (outcome.result === 'accepted') $('stop-text').value = '';
      }
      if (!streamOpen) await refresh();
    });
    focusScan();
  }

  function giveFreeStopReason() {
    const text = $('stop-text').value.trim();
    const since = $('stop').dataset.since;
    if (!text) {
      failed('stop_reason_needed');
      return;
    }
    if (new TextEncoder().encode(text).length > 1024) {
      failed('reason_too_long');
      return;
    }
    if (since) giveStopReason(text, since);
  }

  // ---- Material requisitions -----------------------------------------------------------
  // More material for the running work order than it may take, for a supervisor to approve:
  // a component of the operation (its unit filled in, the only one the edge takes) or
  // another item with the unit the operator types.
  function openAsk() {
    const wo = view && view.work_order;
    if (!wo) return;
    $('ask-item').replaceChildren(
      ...(wo.components || []).map((c) => el('option', { value: c.item, dataset: { uom: c.uom || '' } }, c.item)),
      el('option', { value: '' }, t('ask_other_option')));
    $('ask-text').textContent = t('ask_text', { work_order: wo.work_order });
    for (const id of ['ask-other', 'ask-qty', 'ask-reason']) $(id).value = '';
    askProblem(null);
    $('ask-send').disabled = false;
    askItemChanged();
    $('ask').hidden = false;
    ($('ask-item').value ? $('ask-qty') : $('ask-other')).focus();
  }

  function askItemChanged() {
    const option = $('ask-item').selectedOptions[0];
    const other = !option || option.value === '';
    const unit = other ? '' : option.dataset.uom;
    $('ask-other-row').hidden = !other;
    $('ask-uom').value = unit;
    $('ask-uom').readOnly = Boolean(unit);
  }

  function closeAsk() {
    $('ask').hidden = true;
    focusScan();
  }

  // What is wrong with the request, said in the form (the banner is behind it); null: nothing.
  function askProblem(text) {
    $('ask-message').hidden = !text;
    $('ask-message').textContent = text || '';
  }

  function sendAsk() {
    const item = $('ask-item').value || $('ask-other').value.trim();
    const qty = $('ask-qty').value.trim();
    const uom = $('ask-uom').value.trim();
    const reason = $('ask-reason').value.trim();
    let problem = null;
    if (!item) problem = t('ask_item_needed');
    else if (!/^\d+(\.\d+)?$/.test(qty) || Number(qty) <= 0) problem = t('ask_qty_needed');
    else if (!uom) problem = t('ask_uom_needed', { item });
    else if (!reason) problem = t('ask_reason_needed');
    else if (new TextEncoder().encode(reason).length > 1024) problem = t('reason_too_long');
    if (problem) {
      askProblem(problem);
      beep(false);
      return;
    }
    askProblem(null);
    $('ask-send').disabled = true;
    scanChain = scanChain.then(async () => {
      lastOutcome = { state: 'pending', code: `${qty} ${uom} ${item}` };
      showBanner();
      const outcome = await post(stationPath('/requisitions'), { item, qty, uom, reason });
      $('ask-send').disabled = false;
      if (outcome) answer(outcome);
      // Asked: the form closes and the list shows it. Refused: the form stays open, saying
      // what the banner says, to be put right.
      if (outcome && outcome.result === 'accepted') closeAsk();
      else askProblem($('banner-detail').textContent);
      if (!streamOpen) await refresh();
    });
  }

  // ---- Badge-and-PIN dialog ------------------------------------------------------------
  function openDialog(titleKey, text, options, done) {
    $('dialog-title').textContent = t(titleKey);
    $('dialog-text').textContent = text;
    $('dialog-code-row').hidden = !options.code;
    $('dialog-code').value = '';
    $('dialog-badge-row').hidden = Boolean(options.badge);
    $('dialog-badge').value = options.badge || '';
    $('dialog-pin').value = '';
    dialogDone = done;
    $('dialog').hidden = false;
    (options.code ? $('dialog-code') : options.badge ? $('dialog-pin') : $('dialog-badge')).focus();
  }

  function closeDialog() {
    $('dialog').hidden = true;
    dialogDone = null;
    focusScan();
  }

  function setupDialog() {
    $('dialog-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const done = dialogDone;
      const fields = {
        code: $('dialog-code').value.trim(),
        badge: $('dialog-badge').value.trim(),
        pin: $('dialog-pin').value,
      };
      closeDialog();
      if (done) done(fields);
    });
    $('dialog-cancel').addEventListener('click', closeDialog);
    $('pair-other').addEventListener('click', () => {
      openDialog('confirm_title', t('confirm_text'), { code: true }, async (fields) => {
        const response = await postRaw('/api/v1/pairings/confirm',
          { code: fields.code, badge: fields.badge, pin: fields.pin });
        if (response.ok) {
          const body = await response.json();
          lastOutcome = { state: 'accepted', outcome: { result: 'accepted', message: t('confirmed', { stations: (body.stations || []).join(', ') }) } };
          showBanner();
          beep(true);
        } else {
          failed('request_failed', { detail: await errorText(response) });
        }
      });
    });
  }

  // ---- Session and pairing -------------------------------------------------------------
  // Whether this browser may act at the station; if not, the pairing panel replaces the
  // scan input (the station's view stays visible).
  async function loadSession() {
    try {
      const response = await fetch('/api/v1/session', { cache: 'no-store', credentials: 'same-origin' });
      if (response.ok) session = await response.json();
    } catch (e) {
      setEdgeOnline(false);
    }
    const mayAct = session.paired && (session.stations || []).includes(station);
    $('pairing').hidden = mayAct || !station;
    $('scan-box').hidden = !mayAct;
    $('complete').dataset.mayAct = mayAct ? 'yes' : 'no';
    $('pair-other').hidden = !session.paired;
    $('ask-pairing').hidden = mayAct || session.pairing === false;
    return mayAct;
  }

  async function askPairing() {
    const response = await postRaw('/api/v1/pairings', { stations: [station] });
    const note = $('pairing-message');
    if (!response.ok) {
      note.textContent = await errorText(response);
      return;
    }
    const body = await response.json();
    $('pairing-code').textContent = body.code;
    $('pairing-code-box').hidden = false;
    $('ask-pairing').hidden = true;
    note.textContent = t('pairing_waiting');
    waitForPairing();
  }

  async function waitForPairing() {
    let state = null;
    try {
      const response = await fetch('/api/v1/pairings/current', { cache: 'no-store', credentials: 'same-origin' });
      if (response.ok) state = await response.json();
    } catch (e) {
      state = null;
    }
    if (state && state.state === 'paired') {
      $('pairing-code-box').hidden = true;
      $('pairing-message').textContent = t('pairing_done');
      await loadSession();
      rendered.work_order = null;
      rendered.stop = null;
      if (view) render(view);
      focusScan();
      return;
    }
    if (state && state.state === 'unknown') {
      $('pairing-code-box').hidden = true;
      $('ask-pairing').hidden = false;
      $('pairing-message').textContent = t('pairing_expired');
      return;
    }
    window.setTimeout(waitForPairing, 2000);
  }

  async function refresh() {
    try {
      const response = await fetch(stationPath(), { cache: 'no-store' });
      if (response.ok) render(await response.json());
    } catch (e) {
      setEdgeOnline(false);
    }
  }

  // ---- The scan input ------------------------------------------------------------------
  function focusScan() {
    const scan = $('scan');
    if (!scan || $('terminal').hidden || !$('dialog').hidden || !$('ask').hidden || $('scan-box').hidden) return;
    if (document.activeElement === $('lot-qty') || document.activeElement === $('stop-text')) return;
    if (document.activeElement !== scan) scan.focus({ preventScroll: true });
  }

  function setupScanInput() {
    const scan = $('scan');
    scan.addEventListener('keydown', (event) => {
      unlockAudio();
      // Enter (or the Tab some scanners are set to send) ends a code.
      if (event.key === 'Enter' || (event.key === 'Tab' && scan.value !== '')) {
        event.preventDefault();
        const code = scan.value.replace(/^\s+|\s+$/g, '');
        scan.value = '';
        submitScan(code);
        return;
      }
      // A GS1 separator: scanners send it as the character itself or as Ctrl+].
      if (event.key === GS || (event.ctrlKey && (event.key === ']' || event.code === 'BracketRight'))) {
        event.preventDefault();
        const start = scan.selectionStart ?? scan.value.length;
        const end = scan.selectionEnd ?? scan.value.length;
        scan.value = scan.value.slice(0, start) + GS + scan.value.slice(end);
        scan.setSelectionRange(start + 1, start + 1);
      }
    });
    // Keep the input focused: a keyboard-wedge scanner types into whatever has focus.
    scan.addEventListener('blur', () => window.setTimeout(focusScan, 0));
    $('lot-qty').addEventListener('blur', () => window.setTimeout(focusScan, 0));
    $('stop-text').addEventListener('blur', () => window.setTimeout(focusScan, 0));
    $('stop-text').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        giveFreeStopReason();
      }
    });
    $('lot-qty').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        completeLot();
      }
    });
    document.addEventListener('click', (event) => {
      // Taps inside a dialog stay there.
      if (!event.target.closest('.modal')) window.setTimeout(focusScan, 0);
    });
    document.addEventListener('pointerdown', unlockAudio, true);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) focusScan();
    });
    // On a touch screen the on-screen keyboard would cover the page at every refocus: it
    // stays hidden (a wedge scanner still types) until the operator asks for it.
    const keyboard = $('keyboard');
    const coarse = window.matchMedia && window.matchMedia('(pointer: coarse)').matches;
    setKeyboard(!coarse);
    keyboard.addEventListener('click', () => {
      setKeyboard(scan.getAttribute('inputmode') === 'none');
      scan.blur();
      focusScan();
    });
  }

  function setKeyboard(on) {
    $('scan').setAttribute('inputmode', on ? 'text' : 'none');
    $('keyboard').setAttribute('aria-pressed', on ? 'true' : 'false');
    $('keyboard').classList.toggle('current', on);
  }

  // ---- Rendering -----------------------------------------------------------------------
  function applyTexts() {
    document.documentElement.lang = HTML_LANG[lang];
    document.title = station ? `${station} · ${t('title')}` : t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of document.querySelectorAll('[data-i18n-title]')) {
      node.title = t(node.dataset.i18nTitle);
    }
    for (const button of document.querySelectorAll('#lang button')) {
      button.classList.toggle('current', button.dataset.lang === lang);
      button.setAttribute('aria-pressed', button.dataset.lang === lang ? 'true' : 'false');
    }
  }

  function setLanguage(next) {
    if (!LANGS.includes(next)) return;
    lang = next;
    try {
      window.localStorage.setItem('mes.terminal.lang', lang);
    } catch (e) {
      // the URL keeps the choice instead
    }
    params.set('lang', lang);
    window.history.replaceState(null, '', `${window.location.pathname}?${params}`);
    for (const key of Object.keys(rendered)) delete rendered[key];
    applyTexts();
    showBanner();
    if (view) render(view);
    if (!station) showPicker();
    focusScan();
  }

  // Rebuilds a section only when what it shows changed, so a tap is not lost to a redraw.
  function section(name, data, build) {
    const key = JSON.stringify(data);
    if (rendered[name] === key) return;
    rendered[name] = key;
    build();
  }

  function render(next) {
    view = next;
    record.views += 1;
    $('central-offline').hidden = next.central_connected !== false;

    section('header', [next.station, next.operator], () => {
      $('station-name').textContent = next.station;
      const operator = $('operator');
      operator.classList.toggle('none', !next.operator);
      operator.dataset.operator = next.operator || '';
      operator.textContent = next.operator
        ? t('signed_in_as', { operator: next.operator })
        : t('sign_in_prompt');
      $('sign-out').hidden = !next.operator || !(session.paired && (session.stations || []).includes(station));
    });

    section('stop', [next.stop, $('complete').dataset.mayAct], () => renderStop(next.stop));
    section('spc', next.spc_alarms, () => renderSpc(next.spc_alarms || []));
    section('work_order', [next.work_order, next.unassigned], () => {
      renderWorkOrder(next.work_order);
      renderRunNotes(next.work_order, next.unassigned);
    });
    section('components', next.work_order && next.work_order.components, () =>
      renderComponents(next.work_order));
    section('requisitions', [next.requisitions, next.central_connected], () =>
      renderRequisitions(next.requisitions || [], next.central_connected !== false));
    section('queue', [next.queue, next.work_order && next.work_order.work_order], () =>
      renderQueue(next.queue || [], next.work_order));
    section('scans', next.scans, () => renderScans(next.scans || []));
    section('footer', [next.location, next.plan_version], () => {
      $('location').textContent = next.location ? t('location', { location: next.location }) : '';
      $('plan-version').textContent =
        next.plan_version !== undefined && next.plan_version !== null
          ? t('plan_version', { version: next.plan_version })
          : '';
    });
  }

  // A stop without a reason: red, with the plant's reasons as buttons (planned ones marked),
  // or a text field when the plan lists none. Only a terminal that may act here gets them.
  function renderStop(stop) {
    const box = $('stop');
    box.hidden = !stop;
    box.dataset.since = stop ? stop.since : '';
    const list = $('stop-reasons');
    list.replaceChildren();
    if (!stop) {
      $('stop-free').hidden = true;
      return;
    }
    stopReasons = stop.reasons || [];
    $('stop-head').textContent = stop.ended
      ? t('stop_ended', { since: hhmm(stop.since), ended: hhmm(stop.ended) })
      : t('stop_open', { since: hhmm(stop.since) });
    const mayAct = $('complete').dataset.mayAct === 'yes';
    $('stop-free').hidden = !mayAct || stopReasons.length > 0;
    if (!mayAct) return;
    for (const reason of stopReasons) {
      list.append(el('button', {
        type: 'button',
        class: reason.planned ? 'planned' : null,
        dataset: { reason: reason.code, planned: reason.planned ? 'yes' : 'no' },
        onclick: () => giveStopReason(reason.code, stop.since),
      },
      reasonName(reason.code),
      reason.planned ? el('span', { class: 'badge' }, t('stop_planned')) : null));
    }
  }

  // Central's SPC alarms at this station, red above the work, until acknowledged at central.
  function renderSpc(alarms) {
    $('spc').hidden = alarms.length === 0;
    $('spc-list').replaceChildren(...alarms.map((a) => el('li', { dataset: { alarm: a.id, rule: a.rule } },
      t('spc_alarm', { characteristic: a.characteristic, rule: a.rule, value: a.value, at: hhmm(a.at) }))));
  }

  function renderWorkOrder(wo) {
    const box = $('work-order');
    box.replaceChildren();
    $('complete').hidden = !wo || $('complete').dataset.mayAct !== 'yes';
    // Material is asked where lots are completed: for a running order, at a paired terminal.
    $('ask-material').hidden = $('complete').hidden;
    if (!wo) {
      box.dataset.workOrder = '';
      box.append(el('div', { class: 'empty' }, t('no_work_order')));
      return;
    }
    box.dataset.workOrder = wo.work_order;
    const target = Number(wo.qty);
    const good = Number(wo.good) || 0;
    const percent = target > 0 ? Math.min(100, (good / target) * 100) : 0;
    const bar = el('div', { class: 'bar' });
    bar.style.width = `${percent.toFixed(1)}%`;
    box.append(
      el('div', { class: 'wo-id' }, wo.work_order, ' ',
        wo.on_hold ? el('span', { class: 'badge held' }, t('on_hold')) : null),
      el('div', { class: 'wo-what' },
        [wo.item, wo.description,
          wo.operation === null || wo.operation === undefined ? null : t('operation', { operation: wo.operation })]
          .filter((part) => part !== undefined && part !== null && part !== '')
          .join(' · ')),
      el('div', { class: 'counts' },
        el('span', { class: 'target' }, `${t('target')} `, el('b', null, plain(wo.qty)), ` ${wo.uom || ''}`),
        el('span', { class: 'good' }, `${t('good')} `, el('b', { id: 'good' }, plain(wo.good))),
        el('span', { class: 'scrap' }, `${t('scrap')} `, el('b', { id: 'scrap' }, plain(wo.scrap)))),
      el('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0',
        'aria-valuemax': plain(wo.qty), 'aria-valuenow': plain(wo.good) }, bar),
      madeFor(wo.made_for, 'wo-for'));
  }

  // Made to order: whom the work order (and so its lots) is for, with the promised date.
  function madeFor(lines, cls) {
    if (!lines || lines.length === 0) return null;
    return el('div', { class: cls }, lines.map((m) =>
      [t('made_for', { customer: m.customer_name, order: m.order }),
        m.confirmed ? t('promised', { date: m.confirmed }) : null].filter(Boolean).join(' · ')).join('; '));
  }

  // What the operator should know of the counting here: over-production, a complete order
  // no longer counted, an order counted from the plan, parts booked to no order.
  function renderRunNotes(wo, unassigned) {
    const box = $('work-order');
    const note = (kind, text) => box.append(el('div', { class: `notice run-note ${kind}`, dataset: { note: kind } }, text));
    if (wo && wo.over_production) {
      note('over_production', t('over_production', { good: wo.good, qty: wo.qty, uom: wo.uom || '', allowed: wo.allowed }));
    }
    if (wo && wo.counting === false) note('not_counting', t('not_counting', { work_order: wo.work_order }));
    if (wo && wo.by === 'plan') note('by_plan', t('by_plan'));
    if (unassigned && (Number(unassigned.good) > 0 || Number(unassigned.scrap) > 0)) {
      note('unassigned', t('unassigned', { good: unassigned.good, scrap: unassigned.scrap }));
    }
  }

  function renderComponents(wo) {
    const box = $('components');
    box.replaceChildren();
    // Without a running work order there is nothing to issue to: the section goes away.
    $('components-box').hidden = !wo;
    const components = (wo && wo.components) || [];
    if (components.length === 0) {
      box.append(el('p', { class: 'empty' }, t('no_components')));
      return;
    }
    const amount = (value, uom) => (value === null || value === undefined ? '—' : `${plain(value)} ${uom || ''}`);
    // What the BOM needs, and beneath it what approved requisitions add to it.
    const required = (c) => {
      if (!(Number(c.approved) > 0)) return amount(c.required, c.uom);
      const more = el('span', { class: 'approved' }, t('plus_approved', { qty: plain(c.approved), uom: c.uom || '' }));
      return el('span', null, amount(c.required, c.uom), more);
    };
    const rows = components.map((c) => {
      const done = c.open !== null && c.open !== undefined && Number(c.open) <= 0;
      return el('tr', { class: done ? 'done' : null, dataset: { item: c.item } },
        el('td', { class: 'item' }, c.item),
        el('td', { class: 'required' }, required(c)),
        el('td', { class: 'issued' }, amount(c.issued, c.uom)),
        el('td', { class: 'open' }, amount(c.open, c.uom)));
    });
    box.append(el('table', null,
      el('thead', null, el('tr', null,
        el('th', null, t('component_item')), el('th', null, t('required')),
        el('th', null, t('issued')), el('th', null, t('open')))),
      el('tbody', null, rows)));
  }

  // The running work order's material requisitions and where each stands; one central has
  // not answered yet says whether it is on its way or waits for the link to central.
  function renderRequisitions(requisitions, centralConnected) {
    $('requisitions-box').hidden = requisitions.length === 0;
    $('requisitions').replaceChildren(...requisitions.map((r) => {
      const [stage, words] = requisitionStage(r, centralConnected);
      const asked = r.at && r.operator ? t('req_asked', { at: hhmm(r.at), operator: r.operator }) : null;
      const meta = [r.reason, asked].filter(Boolean).join(' · ');
      return el('li', { class: stage, dataset: { requisition: r.id, item: r.item, stage } },
        el('div', { class: 'what' },
          el('span', { class: 'item' }, r.item),
          el('span', { class: 'qty' }, `${plain(r.qty)} ${r.uom}`)),
        el('div', null, el('span', { class: 'badge' }, words)),
        r.comment ? el('div', { class: 'comment' }, r.comment) : null,
        meta ? el('div', { class: 'meta' }, meta) : null);
    }));
  }

  // A requisition's stage (its badge's colour) and its state in words.
  function requisitionStage(r, centralConnected) {
    if (r.state === 'unsent') {
      return centralConnected ? ['sending', t('req_sending')] : ['offline', t('req_offline')];
    }
    if (r.state === 'waiting') return ['waiting', t('req_waiting', { number: r.number })];
    if (r.state === 'approved') return ['approved', t('req_approved', { decided_by: r.decided_by })];
    return ['rejected', t('req_rejected', { decided_by: r.decided_by })];
  }

  function renderQueue(queue, running) {
    const box = $('queue');
    box.replaceChildren();
    if (queue.length === 0) {
      box.append(el('p', { class: 'empty' }, t('queue_empty')));
      return;
    }
    for (const wo of queue) {
      const isRunning = running && running.work_order === wo.work_order;
      const classes = ['queue-item', wo.on_hold ? 'held' : '', isRunning ? 'running' : ''].join(' ').trim();
      let badge = null;
      if (isRunning) badge = t('running');
      else if (wo.on_hold) badge = t('on_hold');
      // A held work order stays tappable: the edge refuses it and the operator hears why.
      box.append(el('button', {
        type: 'button',
        class: classes,
        dataset: { workOrder: wo.work_order },
        // One running by the plan alone can be started (then an operator runs it).
        disabled: isRunning && running.by !== 'plan',
        onclick: () => submitScan(`(91)${wo.work_order}`),
      },
      el('span', { class: 'wo' }, wo.work_order), ' ',
      badge ? el('span', { class: 'badge' }, badge) : null,
      el('span', { class: 'meta' },
        [wo.item, `${plain(wo.qty)} ${wo.uom || ''}`.trim(), wo.due ? t('due', { due: wo.due }) : null]
          .filter(Boolean).join(' · ')),
      madeFor(wo.made_for, 'meta for')));
    }
  }

  function renderScans(scans) {
    const list = $('scans');
    list.replaceChildren();
    if (scans.length === 0) {
      list.append(el('li', { class: 'empty' }, t('no_scans')));
      return;
    }
    for (const scan of scans) {
      const ok = scan.result === 'accepted';
      const warned = ok && scan.warning ? ' warning' : '';
      list.append(el('li', { class: (ok ? 'accepted' : 'rejected') + warned, dataset: { result: scan.result, reason: scan.reason || '', warning: scan.warning || '' } },
        el('span', { class: 'mark' }, ok ? '✔' : '✘'),
        el('span', { class: 'text' }, describe(scan), ' ', el('span', { class: 'time' }, clock(scan.at))),
        el('span', { class: 'raw' }, (scan.raw || '').split(GS).join('<GS>'))));
    }
  }

  function setEdgeOnline(online) {
    $('edge-offline').hidden = online;
  }

  // ---- Live updates --------------------------------------------------------------------
  // EventSource reconnects by itself after a dropped connection; it gives up only when the
  // edge answers with an error status, and then the page tries again a little later.
  function connect() {
    const source = new EventSource(stationPath('/events'));
    events = source;
    source.addEventListener('station', (event) => {
      streamOpen = true;
      setEdgeOnline(true);
      try {
        render(JSON.parse(event.data));
      } catch (e) {
        console.error('a station event the page cannot read', e);
      }
    });
    source.addEventListener('open', () => {
      streamOpen = true;
      setEdgeOnline(true);
    });
    source.addEventListener('error', () => {
      streamOpen = false;
      setEdgeOnline(false);
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(() => {
          if (events === source) start();
        }, 3000);
      }
    });
  }

  async function start() {
    let response;
    try {
      response = await fetch(stationPath(), { cache: 'no-store' });
    } catch (e) {
      setEdgeOnline(false);
      window.setTimeout(start, 3000);
      return;
    }
    if (response.status === 404) {
      showPicker(t('unknown_station', { station }));
      return;
    }
    if (response.ok) {
      setEdgeOnline(true);
      try {
        render(await response.json());
      } catch (e) {
        console.error('a station view the page cannot read', e);
      }
    }
    connect();
  }

  // ---- Station picker ------------------------------------------------------------------
  async function showPicker(message) {
    $('terminal').hidden = true;
    $('picker').hidden = false;
    $('station-name').textContent = t('title');
    $('operator').hidden = true;
    const note = $('picker-message');
    note.hidden = !message;
    note.textContent = message || '';
    const list = $('picker-list');
    let stations = [];
    try {
      const response = await fetch('/api/v1/stations', { cache: 'no-store' });
      if (response.ok) stations = await response.json();
      setEdgeOnline(true);
    } catch (e) {
      setEdgeOnline(false);
    }
    list.replaceChildren();
    if (!Array.isArray(stations) || stations.length === 0) {
      list.append(el('p', null, t('no_stations')));
      return;
    }
    for (const id of stations) {
      list.append(el('button', {
        type: 'button',
        dataset: { station: id },
        onclick: () => {
          const next = new URLSearchParams({ station: id, lang });
          window.location.assign(`${window.location.pathname}?${next}`);
        },
      }, id));
    }
  }

  // ---- Start ---------------------------------------------------------------------------
  function main() {
    for (const button of document.querySelectorAll('#lang button')) {
      button.addEventListener('click', () => setLanguage(button.dataset.lang));
    }
    $('sign-out').addEventListener('click', signOut);
    $('complete-lot').addEventListener('click', completeLot);
    $('stop-send').addEventListener('click', giveFreeStopReason);
    $('ask-material').addEventListener('click', openAsk);
    $('ask-item').addEventListener('change', askItemChanged);
    $('ask-form').addEventListener('submit', (event) => {
      event.preventDefault();
      sendAsk();
    });
    $('ask-cancel').addEventListener('click', closeAsk);
    $('ask-pairing').addEventListener('click', askPairing);
    setupDialog();
    applyTexts();
    if (!station) {
      showPicker();
      return;
    }
    $('station-name').textContent = station;
    $('terminal').hidden = false;
    setupScanInput();
    showBanner();
    loadSession().then(() => {
      focusScan();
      start();
    });
  }

  window.terminal = { TEXTS, REASONS, ACTIONS, record, describe, get lang() { return lang; }, get session() { return session; } };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
