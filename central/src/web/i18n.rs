//! The one message catalogue of central's pages: every text a page or its script shows, in
//! Chinese and English. Templates ask for a key (`{{ t.t("sign_in") }}`); the scripts get the
//! page language's table as JSON. A test checks that every key has both languages and that
//! every key the templates and the script use is here.

use crate::people::roles::{Permission, Role};
use crate::people::users::Language;

/// `(key, zh, en)`. Placeholders in braces (`{minutes}`) are filled in by the caller.
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app_name", "MES 中央", "MES Central"),
    ("nav_account", "我的账户", "My account"),
    ("nav_users", "用户", "Users"),
    ("nav_roles", "角色与权限", "Roles"),
    ("nav_plants", "工厂", "Plants"),
    ("nav_audit", "审计记录", "Audit trail"),
    ("home_title", "首页", "Home"),
    (
        "home_intro",
        "你可以打开的页面：",
        "The pages you may open:",
    ),
    ("sign_out", "退出登录", "Sign out"),
    ("signed_in_as", "已登录：", "Signed in as"),
    ("switch_language", "语言", "Language"),
    // Sign-in
    ("sign_in_title", "登录", "Sign in"),
    ("login", "登录名", "Login"),
    ("password", "密码", "Password"),
    ("sign_in_button", "登录", "Sign in"),
    (
        "sign_in_failed",
        "登录名或密码错误",
        "Wrong login or password",
    ),
    (
        "locked",
        "登录失败次数过多，请在 {minutes} 分钟后再试",
        "Too many failed sign-ins; try again in {minutes} minutes",
    ),
    (
        "network_error",
        "无法连接到中央服务器",
        "Central cannot be reached",
    ),
    ("request_failed", "操作失败：{message}", "Failed: {message}"),
    ("working", "请稍候……", "Working…"),
    // Account
    ("account_title", "我的账户", "My account"),
    ("who_am_i", "我是谁", "Who I am"),
    ("display_name", "姓名", "Name"),
    ("roles", "角色", "Roles"),
    ("plants", "工厂", "Plants"),
    ("all_plants", "全部工厂", "every plant"),
    ("no_plants", "无", "none"),
    ("language_name", "语言", "Language"),
    ("time_zone", "时区", "Time zone"),
    (
        "times_shown_in",
        "时间按 {zone} 显示",
        "Times are shown in {zone}",
    ),
    ("change_password", "修改密码", "Change password"),
    ("current_password", "当前密码", "Current password"),
    (
        "new_password",
        "新密码（至少 12 个字符）",
        "New password (at least 12 characters)",
    ),
    ("repeat_password", "再次输入新密码", "New password again"),
    (
        "passwords_differ",
        "两次输入的新密码不一致",
        "The two new passwords differ",
    ),
    (
        "password_changed",
        "密码已修改；你在其他地方的登录已结束",
        "Password changed; your other sessions were ended",
    ),
    (
        "wrong_password",
        "当前密码错误，未作任何修改",
        "The current password is wrong; nothing was changed",
    ),
    ("tokens_title", "个人 API 令牌", "Personal API tokens"),
    ("token_name", "用途", "What it is for"),
    ("token_days", "有效天数", "Valid for days"),
    ("token_permissions", "权限", "Permissions"),
    ("create_token", "创建令牌", "Create token"),
    (
        "token_created_once",
        "新令牌只显示这一次，请立即复制保存：",
        "The new token is shown this once; copy it now:",
    ),
    ("done", "完成", "Done"),
    ("revoke", "撤销", "Revoke"),
    ("token_state", "状态", "State"),
    ("state_live", "有效", "live"),
    ("state_revoked", "已撤销", "revoked"),
    ("state_expired", "已过期", "expired"),
    ("created", "创建于", "Created"),
    ("expires", "到期", "Expires"),
    ("last_used", "最近使用", "Last used"),
    ("never", "从未", "never"),
    ("no_tokens", "还没有令牌。", "No tokens yet."),
    (
        "confirm_revoke",
        "撤销这个令牌？使用它的程序将无法再访问。",
        "Revoke this token? Programs using it will be refused.",
    ),
    // Users
    ("users_title", "用户", "Users"),
    ("user_login", "登录名", "Login"),
    ("manager", "上级", "Manager"),
    ("badge", "工牌", "Badge"),
    ("active", "启用", "Active"),
    ("yes", "是", "yes"),
    ("no", "否", "no"),
    ("actions", "操作", "Actions"),
    ("edit", "编辑", "Edit"),
    ("disable", "停用", "Disable"),
    ("enable", "启用", "Enable"),
    ("reset_password", "重置密码", "Reset password"),
    (
        "new_password_once",
        "{login} 的新密码只显示这一次：",
        "{login}'s new password, shown this once:",
    ),
    ("user_form_new", "新建用户", "New user"),
    ("user_form_edit", "编辑用户 {login}", "Edit user {login}"),
    (
        "password_optional",
        "初始密码（可留空）",
        "Initial password (optional)",
    ),
    ("roles_hint", "至少选一个角色", "At least one role"),
    (
        "plants_hint",
        "多个工厂用逗号分隔",
        "Plants separated by commas",
    ),
    ("save", "保存", "Save"),
    ("cancel", "取消", "Cancel"),
    ("saved", "已保存", "Saved"),
    ("no_users", "没有可见的用户。", "No users you may see."),
    (
        "confirm_disable",
        "停用 {login}？其会话和令牌将立即失效。",
        "Disable {login}? Their sessions and tokens stop at once.",
    ),
    (
        "confirm_reset",
        "为 {login} 生成新密码？其所有会话将结束。",
        "Give {login} a new password? Their sessions end.",
    ),
    // Roles
    ("roles_title", "角色与权限", "Roles and permissions"),
    ("permission", "权限", "Permission"),
    ("what_it_allows", "允许做什么", "What it allows"),
    (
        "roles_intro",
        "用户的权限是其所有角色权限的并集。管理员和总部查看者可以看到所有工厂；其他人只能看到和修改自己工厂的记录。",
        "A user's permissions are the union of their roles'. Administrators and viewers see every plant; everyone else sees and changes only the records of their own plants.",
    ),
    ("sees_every_plant", "所有工厂", "every plant"),
    ("sees_own_plants", "自己的工厂", "their plants"),
    ("sees", "可见范围", "Sees"),
    // Plants
    (
        "plants_title",
        "工厂及其现场规则",
        "Plants and their rules for the floor",
    ),
    ("plant", "工厂", "Plant"),
    // The floor: board, andon, OEE
    ("nav_floor", "车间看板", "Plant board"),
    ("nav_oee", "OEE", "OEE"),
    ("nav_edges", "网关", "Edges"),
    ("edges_title", "边缘网关", "Edge fleet"),
    (
        "no_edges",
        "你的工厂还没有边缘网关。",
        "No edge gateway in your plants yet.",
    ),
    ("edge", "网关", "Edge"),
    ("agent_version", "版本", "Version"),
    ("clock_skew", "时钟偏差", "Clock skew"),
    ("acked_seq", "已确认序号", "Acked seq"),
    ("plan_published", "已发布计划", "Plan published"),
    ("plan_applied", "已应用计划", "Plan applied"),
    ("quarantined", "隔离", "Quarantined"),
    ("edge_silent", "已失联", "silent"),
    ("plan_behind", "未更新", "behind"),
    ("revoked", "已吊销", "revoked"),
    ("oldest_unsent", "最早未发送", "Oldest unsent"),
    ("spc_retired", "已停用", "retired"),
    ("spc_retire", "停用", "Retire"),
    (
        "spc_retired_note",
        "已停用：不再记录测量值，图表仅供查看。停用于",
        "Retired: no more measurements are charted; the chart is kept read-only. Retired",
    ),
    (
        "spc_confirm_retire",
        "停用特性“{name}”？它的未处理报警将关闭，图表保留只读。",
        "Retire the characteristic “{name}”? Its open alarms close; its chart stays, read-only.",
    ),
    (
        "kiosk_refused_title",
        "看板链接无效",
        "Kiosk link not valid",
    ),
    ("nav_kiosks", "看板终端链接", "Kiosk links"),
    ("kiosks_title", "看板终端链接", "Kiosk links"),
    (
        "kiosks_intro",
        "在车间电视上打开看板链接，即以只读方式显示该工厂的安灯看板，无需输入密码。吊销链接会立即让该电视退出。",
        "Open a kiosk link on a shop-floor TV and it shows that plant's andon, read-only, with no password typed. Revoking a link signs its TV out at once.",
    ),
    ("create_kiosk_link", "创建看板链接", "Create kiosk link"),
    ("kiosk_name", "名称（哪台电视）", "Name (which TV)"),
    ("created_by", "创建人", "Created by"),
    ("no_kiosk_links", "还没有看板链接。", "No kiosk links yet."),
    (
        "kiosk_link_once",
        "在电视上打开此链接。它只显示这一次，请现在复制：",
        "Open this link on the TV. It is shown this once only; copy it now:",
    ),
    (
        "kiosk_confirm_revoke",
        "吊销看板链接“{name}”？该电视将立即退出。",
        "Revoke the kiosk link “{name}”? Its TV is signed out at once.",
    ),
    (
        "kiosk_link_invalid",
        "此看板链接无法打开：它可能已被吊销或输入有误。请向主管索取新链接。",
        "This kiosk link does not open: it may have been revoked or mistyped. Ask a supervisor for a new link.",
    ),
    (
        "kiosk_session_ended",
        "此看板终端已退出：它的链接已被吊销，或长时间未使用。请重新打开看板链接；若仍无法打开，请向主管索取新链接。",
        "This kiosk is signed out: its link was revoked, or it went unused for a long time. Open its kiosk link again; if that does not open, ask a supervisor for a new link.",
    ),
    ("unsent_overdue", "积压过久", "overdue"),
    ("nothing_unsent", "无", "none"),
    ("age_s", "{n} 秒前", "{n} s ago"),
    ("age_min", "{n} 分钟前", "{n} min ago"),
    ("age_h", "{n} 小时前", "{n} h ago"),
    ("age_d", "{n} 天前", "{n} days ago"),
    ("nav_plants_side", "各厂对比", "Plants side by side"),
    (
        "plants_side_title",
        "各厂对比（总部）",
        "Plants side by side (head office)",
    ),
    ("stations", "工位", "Stations"),
    ("oee_7_days", "7 天 OEE", "OEE 7 days"),
    ("oee_30_days", "30 天 OEE", "OEE 30 days"),
    ("scrap_rate", "报废率", "Scrap rate"),
    ("trend_30_days", "30 天趋势", "30-day trend"),
    ("trend_weeks", "12 周趋势", "12-week trend"),
    (
        "output_vs_plan_30",
        "30 天产出/计划",
        "Output vs plan 30 days",
    ),
    ("on_time_30", "30 天准时率", "On time 30 days"),
    (
        "delivery_title",
        "工单交付（按到期日）",
        "Work order delivery (by due date)",
    ),
    (
        "delivery_definition",
        "交付按期间内到期的工单计算（已取消的除外）：产出/计划 = 最后一道工序良品数 / 计划数量；准时 = 在工厂当地到期日当天或之前完成；准时率 = 准时 /（准时 + 延迟 + 逾期未完成）。",
        "Delivery counts the work orders due in the period (cancelled ones left out): output vs plan = good at their last operation / their planned quantity; on time = completed on or before the due date in the plant's time zone; on-time rate = on time / (on time + late + open past due).",
    ),
    ("period", "期间", "Period"),
    ("period_7_days", "7 天", "7 days"),
    ("period_30_days", "30 天", "30 days"),
    ("orders_due", "到期工单", "Orders due"),
    ("planned_qty", "计划数量", "Planned qty"),
    ("good_qty", "良品数量", "Good qty"),
    ("output_vs_plan", "产出/计划", "Output vs plan"),
    ("on_time", "准时", "On time"),
    ("late", "延迟完成", "Late"),
    ("open_past_due", "逾期未完成", "Open past due"),
    ("not_yet_due", "未到期", "Not yet due"),
    ("on_time_rate", "准时率", "On-time rate"),
    ("spans_link", "状态与计数", "spans"),
    ("board_title", "车间看板", "Plant board"),
    ("andon_title", "安灯看板", "Andon board"),
    ("show", "显示", "Show"),
    (
        "live_connecting",
        "正在连接实时数据…",
        "Connecting to live data…",
    ),
    ("live_on", "实时 · 更新于 {time}", "Live · updated {time}"),
    (
        "live_lost",
        "连接中断，正在重连…",
        "Connection lost; reconnecting…",
    ),
    (
        "board_empty",
        "此工厂还没有工位报告状态或产量。",
        "No station of this plant has reported a state or a count yet.",
    ),
    ("state_running", "运行", "Running"),
    ("state_idle", "空闲", "Idle"),
    ("state_down", "停机", "Down"),
    ("state_setup", "换型", "Setup"),
    ("state_off", "关机", "Off"),
    ("state_unknown", "未知", "Unknown"),
    ("no_reason", "未给出原因", "No reason given"),
    ("for_duration", "已持续 {duration}", "for {duration}"),
    ("work_order", "工单", "Work order"),
    ("operator", "操作员", "Operator"),
    ("no_operator", "无人登录", "Nobody signed in"),
    ("no_order", "无工单", "No order"),
    ("good", "良品", "Good"),
    ("scrap", "报废", "Scrap"),
    ("of_qty", "共 {qty}", "of {qty}"),
    ("shift_oee", "本班 OEE", "Shift OEE"),
    ("shift_name", "班次", "Shift"),
    ("edge_health", "网关", "Edge"),
    ("last_contact", "最后联系", "Last contact"),
    ("backlog", "待发送", "Backlog"),
    ("plan_version", "计划版本", "Plan version"),
    ("oee_title", "OEE（ISO 22400-2）", "OEE (ISO 22400-2)"),
    ("oee_by", "按", "By"),
    ("by_shift", "班次", "Shift"),
    ("by_day", "日", "Day"),
    ("by_week", "周", "Week"),
    ("by_month", "月", "Month"),
    ("by_total", "合计", "Total"),
    ("from", "从", "From"),
    ("to", "到", "To"),
    (
        "oee_definition",
        "A = APT/PBT，E = PRI × PQ / APT，Q = GQ/PQ，OEE = A × E × Q",
        "A = APT/PBT, E = PRI × PQ / APT, Q = GQ/PQ, OEE = A × E × Q",
    ),
    ("oee", "OEE", "OEE"),
    ("availability", "可用率", "Availability"),
    ("effectiveness", "性能（效率）", "Effectiveness"),
    ("quality", "质量率", "Quality"),
    ("oee_trend", "趋势", "Trend"),
    ("by_line", "按产线", "By line"),
    ("by_station", "按工位", "By station"),
    ("pbt_h", "计划占用 h", "PBT h"),
    ("apt_h", "实际生产 h", "APT h"),
    ("down_h", "停机 h", "Down h"),
    (
        "no_figures",
        "此期间没有数据。",
        "No figures for this period.",
    ),
    ("loss_tree", "损失树", "Loss tree"),
    ("setup_h", "换型 h", "Setup h"),
    ("idle_h", "空闲 h", "Idle h"),
    ("unknown_h", "无状态 h", "No state known h"),
    ("speed_loss_h", "速度损失 h", "Speed loss h"),
    (
        "pareto_down",
        "停机帕累托（按原因，h）",
        "Downtime Pareto by reason (h)",
    ),
    (
        "pareto_category",
        "停机帕累托（按类别，h）",
        "Downtime Pareto by category (h)",
    ),
    ("pareto_planned", "计划停机（h）", "Planned downtime (h)"),
    (
        "pareto_scrap",
        "报废帕累托（按工位）",
        "Scrap Pareto by station",
    ),
    (
        "pareto_down_shift",
        "停机帕累托（按班次，h）",
        "Downtime Pareto by shift (h)",
    ),
    (
        "pareto_scrap_shift",
        "报废帕累托（按班次）",
        "Scrap Pareto by shift",
    ),
    (
        "pareto_scrap_item",
        "报废帕累托（按物料）",
        "Scrap Pareto by item",
    ),
    (
        "pareto_down_station",
        "停机帕累托（按工位，h）",
        "Downtime Pareto by station (h)",
    ),
    (
        "pareto_down_item",
        "停机帕累托（按物料，h）",
        "Downtime Pareto by item (h)",
    ),
    ("losses_title", "停机与报废明细", "Stops and scrap"),
    ("loss_down", "非计划停机", "Unplanned stops"),
    ("loss_planned", "计划停机", "Planned stops"),
    ("loss_scrap", "报废", "Scrap"),
    ("losses_total", "合计", "Total"),
    ("losses_rows", "共 {n} 条", "{n} rows"),
    (
        "losses_truncated",
        "只列出前 {n} 条；合计含全部，CSV 最多 5000 条",
        "Only the first {n} are listed; the total counts them all, the CSV lists up to 5000",
    ),
    ("losses_none", "此时段内没有记录", "None in this period"),
    ("filter_remove", "取消此筛选", "Remove this filter"),
    ("no_reason_given", "未给原因", "no reason given"),
    ("began_label", "开始", "Began"),
    ("ended_label", "结束", "Ended"),
    ("minutes_label", "分钟", "Minutes"),
    ("minute_label", "时间（分钟）", "Minute"),
    ("event_label", "事件", "Event"),
    ("parts", "件", "parts"),
    ("value", "数值", "Value"),
    ("share", "占比", "Share"),
    ("cumulative", "累计", "Cumulative"),
    ("hours_label", "小时", "Hours"),
    ("chart_period", "时段", "Period"),
    ("chart_day", "日期", "Day"),
    ("stop_reason", "停机原因", "Stop reason"),
    ("category", "类别", "Category"),
    ("station", "工位", "Station"),
    ("target_is", "目标 {value}", "target {value}"),
    ("target_oee", "OEE 目标", "OEE target"),
    ("target_availability", "可用率目标", "Availability target"),
    (
        "target_effectiveness",
        "性能（效率）目标",
        "Effectiveness target",
    ),
    ("target_quality", "质量目标", "Quality target"),
    ("name", "名称", "Name"),
    (
        "over_tolerance",
        "超产/超发容差 %",
        "Over-production tolerance %",
    ),
    (
        "stop_counting",
        "订单完成后停止计数",
        "Stop counting when complete",
    ),
    ("negative_stock", "负库存", "Negative stock"),
    ("negative_stock_refuse", "拒绝", "refuse"),
    ("negative_stock_flag", "记账并标记", "book and flag"),
    ("negative_stock_allow", "允许", "allow"),
    ("plant_form_new", "新建工厂", "New plant"),
    ("plant_form_edit", "编辑工厂 {plant}", "Edit plant {plant}"),
    (
        "no_plants_visible",
        "没有可见的工厂。",
        "No plants you may see.",
    ),
    // Audit
    ("audit_title", "审计记录", "Audit trail"),
    ("filter_actor", "操作人", "Who"),
    ("filter_entity", "对象类型", "Entity"),
    ("filter_entity_id", "对象编号", "Entity id"),
    ("filter_action", "动作", "Action"),
    ("filter_from", "从", "From"),
    ("filter_to", "到", "To"),
    ("apply", "筛选", "Filter"),
    ("export_csv", "导出 CSV", "Export CSV"),
    ("col_seq", "序号", "Seq"),
    ("col_at", "时间", "When"),
    ("col_actor", "操作人", "Who"),
    ("col_address", "地址", "Address"),
    ("col_action", "动作", "Action"),
    ("col_entity", "对象", "Entity"),
    ("col_change", "变更", "Change"),
    ("more", "更早的记录", "Older entries"),
    ("no_entries", "没有符合条件的记录。", "No entries match."),
    (
        "audit_unavailable",
        "审计记录暂不可用：{message}",
        "The audit trail is not available: {message}",
    ),
    ("loading", "加载中……", "Loading…"),
    // Denied, errors
    ("denied_title", "无权访问", "Not allowed"),
    (
        "denied_text",
        "此页面需要权限 {permission}（{describe}），你的角色都没有授予该权限。",
        "This page needs the permission {permission} ({describe}), which none of your roles grants.",
    ),
    (
        "denied_other",
        "你无权打开此页面：{message}",
        "You may not open this page: {message}",
    ),
    ("back_home", "返回首页", "Back to the home page"),
    // Work orders and traceability
    ("nav_work_orders", "工单", "Work orders"),
    ("nav_trace", "追溯", "Traceability"),
    ("wo_title", "工单", "Work orders"),
    ("wo_state", "状态", "Status"),
    ("wo_any", "全部", "any"),
    ("wo_all_states", "全部状态", "Every status"),
    ("wo_item", "物料", "Item"),
    ("wo_line", "产线", "Line"),
    ("wo_qty", "数量", "Quantity"),
    ("wo_due", "交期", "Due"),
    ("wo_due_from", "交期起", "Due from"),
    ("wo_due_to", "交期止", "Due to"),
    ("wo_search", "搜索", "Search"),
    ("wo_progress", "进度", "Progress"),
    ("wo_overdue", "已逾期", "overdue"),
    ("wo_none", "没有符合条件的工单", "No work order matches"),
    (
        "wo_range",
        "第 {first}–{last} 条，共 {total} 条",
        "{first}–{last} of {total}",
    ),
    ("wo_prev", "上一页", "Previous"),
    ("wo_next", "下一页", "Next"),
    ("wo_planned", "已计划", "Planned"),
    ("wo_released", "已下达", "Released"),
    ("wo_in_progress", "生产中", "In progress"),
    ("wo_on_hold", "已暂停", "On hold"),
    ("wo_completed", "已完工", "Completed"),
    ("wo_closed", "已关闭", "Closed"),
    ("wo_cancelled", "已取消", "Cancelled"),
    ("wo_priority", "优先级", "Priority"),
    ("wo_held_from", "暂停前状态", "Held from"),
    ("wo_updated", "更新时间", "Updated"),
    ("wo_holds", "质量冻结", "Quality holds"),
    ("wo_lot", "批次", "Lot"),
    ("wo_reason", "原因", "Reason"),
    ("wo_held_at", "冻结时间", "Held since"),
    ("wo_operations", "各工序进度", "Progress per operation"),
    (
        "wo_no_operations",
        "此工单没有工序",
        "This order has no operations",
    ),
    ("wo_operation", "工序", "Operation"),
    ("wo_work_center", "工作中心", "Work center"),
    ("wo_station", "工位", "Station"),
    (
        "wo_plans",
        "承载此工单的计划版本",
        "Plan versions that carried it",
    ),
    (
        "wo_no_plans",
        "尚未下发到任何边缘网关",
        "Not sent to any edge yet",
    ),
    ("wo_runs_it", "正在执行", "runs it"),
    ("wo_running_at", "正在生产的工位", "Stations running it now"),
    (
        "wo_material",
        "按 BOM 的发料",
        "Material issued against the BOM",
    ),
    (
        "wo_material_note",
        "需求 = 单耗 × 工单数量 × (1 + 损耗率)；标准用量 = 单耗 × 末道工序产出（良品 + 废品）× (1 + 损耗率)；差异 = 已发 − 需求",
        "Required = qty per × order quantity × (1 + scrap %); standard = qty per × output at the last operation (good + scrap) × (1 + scrap %); variance = issued − required",
    ),
    (
        "wo_no_components",
        "此工单没有物料",
        "This order has no components",
    ),
    ("wo_component", "子件", "Component"),
    ("wo_qty_per", "单耗", "Qty per"),
    ("wo_required", "需求", "Required"),
    ("wo_standard", "标准用量", "Standard for output"),
    ("wo_issued", "已发", "Issued"),
    ("wo_variance", "差异", "Variance"),
    ("wo_usage_variance", "用量差异", "Usage variance"),
    ("wo_lots_issued", "发料批次", "Lots issued"),
    ("wo_unplanned", "BOM 外", "not in the BOM"),
    ("wo_lots_produced", "产出批次", "Lots produced"),
    ("wo_no_lots", "尚无产出批次", "No lot produced yet"),
    ("wo_timeline", "事件时间线", "Timeline of events"),
    ("wo_no_events", "没有事件", "No events"),
    ("wo_when", "时间", "When"),
    ("wo_what", "事件", "What"),
    ("wo_newest", "最新", "Newest"),
    ("wo_older", "更早", "Older"),
    ("wo_warnings", "警告", "Warnings"),
    ("wo_office", "人员操作", "Changes people made"),
    ("wo_who", "操作人", "Who"),
    ("wo_created", "创建", "Created"),
    ("ev_started", "工序开始", "Operation started"),
    ("ev_paused", "暂停", "Paused"),
    ("ev_completed", "完工", "Completed"),
    ("ev_counted", "计数", "Counted"),
    ("ev_issued", "发料", "Material issued"),
    ("ev_lot_produced", "产出批次", "Lot produced"),
    ("ev_measured", "测量", "Measured"),
    ("ev_other", "其他", "Other"),
    ("do_release", "下达", "Release"),
    ("do_hold", "暂停", "Hold"),
    ("do_unhold", "恢复", "Resume"),
    ("do_cancel", "取消工单", "Cancel the order"),
    ("do_close", "关闭", "Close"),
    (
        "wo_confirm_cancel",
        "确定取消工单 {work_order}？取消后不能恢复。",
        "Cancel work order {work_order}? A cancelled order cannot be resumed.",
    ),
    ("trace_title", "批次追溯", "Lot traceability"),
    ("trace_button", "追溯", "Trace"),
    (
        "trace_note",
        "反向：此批次由哪些批次制成；正向：哪些批次用了它。点击任一批次继续追溯。",
        "Backward: the lots it was made of; forward: the lots made of it. Click any lot to trace it in turn.",
    ),
    ("trace_graph", "谱系图", "Genealogy"),
    ("trace_made_of", "原料", "made of"),
    ("trace_went_into", "去向", "went into"),
    ("trace_this_lot", "本批次", "this lot"),
    ("trace_lots", "各批次", "The lots"),
    ("trace_where_in_tree", "关系（层级）", "Relation (level)"),
    ("trace_on_hand", "现存位置", "Where it is now"),
    ("trace_none_on_hand", "无库存", "none on hand"),
    ("trace_made_by", "生产工单", "Made by"),
    ("trace_used_by", "使用工单", "Used by"),
    (
        "trace_other_plant",
        "属于你看不到的工厂",
        "of a plant you do not see",
    ),
    (
        "trace_left_out",
        "只显示最近 {levels} 层、每个方向最多 {nodes} 个批次；另有至少 {backward} 个原料批次、{forward} 个去向批次未显示。",
        "Showing the nearest {levels} levels and at most {nodes} lots each way; left out: at least {backward} more backward and {forward} more forward.",
    ),
    // SPC
    ("nav_spc", "SPC", "SPC"),
    (
        "spc_title",
        "统计过程控制（SPC）",
        "Statistical process control (SPC)",
    ),
    (
        "spc_none",
        "还没有 SPC 特性。用 PUT /api/v1/spc/characteristics 定义。",
        "No SPC characteristics yet. Define them with PUT /api/v1/spc/characteristics.",
    ),
    ("spc_characteristic", "特性", "Characteristic"),
    ("spc_item", "物料", "Item"),
    ("spc_operation", "工序", "Operation"),
    ("spc_subgroup", "子组大小", "Subgroup size"),
    ("spc_status", "状态", "Status"),
    (
        "spc_collecting",
        "收集基线 {k}/{n}",
        "Collecting baseline {k}/{n}",
    ),
    ("spc_in_control", "受控", "In control"),
    ("spc_alarm_open", "1 个报警", "1 alarm"),
    ("spc_alarms_open", "{n} 个报警", "{n} alarms"),
    ("spc_frozen_at", "控制限冻结于", "Limits frozen at"),
    ("spc_no_points", "还没有数据点。", "No points yet."),
    ("spc_i_chart", "单值图（I）", "Individuals chart (I)"),
    ("spc_xbar_chart", "均值图（X̄）", "X-bar chart"),
    (
        "spc_mr_chart",
        "移动极差图（MR）",
        "Moving range chart (MR)",
    ),
    ("spc_r_chart", "极差图（R）", "Range chart (R)"),
    ("spc_points", "数据点", "Points"),
    ("spc_point", "点", "Point"),
    ("spc_time", "时间", "Time"),
    ("spc_value", "单值", "Value"),
    ("spc_mean", "均值", "Mean"),
    ("spc_range", "极差", "Range"),
    ("spc_moving_range", "移动极差", "Moving range"),
    ("spc_rules", "违反规则", "Rules broken"),
    ("spc_baseline_point", "基线", "baseline"),
    (
        "spc_points_note",
        "图中各点（最早的在前）；基线点用于计算冻结的控制限。",
        "The charts' points, oldest first; the baseline's points are those the frozen limits were computed from.",
    ),
    ("spc_usl", "USL", "USL"),
    ("spc_ucl", "UCL", "UCL"),
    ("spc_center", "中心线", "Centre"),
    ("spc_lcl", "LCL", "LCL"),
    ("spc_lsl", "LSL", "LSL"),
    ("spc_sigma", "组内 σ", "Sigma within"),
    ("spc_target", "目标值", "Target"),
    ("spc_capability", "过程能力", "Capability"),
    ("spc_cp", "Cp", "Cp"),
    ("spc_cpk", "Cpk", "Cpk"),
    ("spc_pp", "Pp", "Pp"),
    ("spc_ppk", "Ppk", "Ppk"),
    (
        "spc_rules_note",
        "红点违反西电判异规则（数字为规则号）：1 超出控制限；2 连续 9 点在中心线同侧；3 连续 6 点递增或递减；4 连续 14 点交替上下。Cp/Cpk 用组内 σ，Pp/Ppk 用总体 σ，按图中各点计算。",
        "Red points break a Western Electric rule (the number says which): 1 beyond a control limit; 2 nine in a row on one side of the centre; 3 six in a row rising or falling; 4 fourteen in a row alternating. Cp/Cpk use the within sigma, Pp/Ppk the overall sigma, over the points shown.",
    ),
    ("spc_alarms_title", "SPC 报警", "SPC alarms"),
    (
        "spc_alarm_text",
        "{name}（{item}）违反规则 {rule}：第 {point} 点 = {value}",
        "{name} ({item}) broke rule {rule}: point {point} = {value}",
    ),
    ("spc_ack", "确认", "Acknowledge"),
    // CRM pipeline (/crm/pipeline): its own block, beside the other CRM pages'.
    ("nav_pipeline", "销售漏斗", "Pipeline"),
    ("pipeline_title", "销售漏斗", "Sales pipeline"),
    ("pipeline_owner", "销售员", "Salesperson"),
    ("pipeline_any_owner", "全部（我能看到的）", "Everyone I see"),
    ("pipeline_search", "客户或商机", "Customer or deal"),
    ("pipeline_currency", "预测币种", "Forecast in"),
    ("pipeline_each_currency", "各币种分别", "Each currency"),
    ("pipeline_forecast", "加权预测", "Weighted forecast"),
    (
        "pipeline_forecast_range",
        "预计成交日期 {from} 至 {to}",
        "closing {from} to {to}",
    ),
    (
        "pipeline_forecast_none",
        "这段时间没有预计成交的商机。",
        "No deals close in this period.",
    ),
    ("pipeline_weighted", "加权金额", "Weighted"),
    ("pipeline_weighted_short", "加权", "weighted"),
    ("pipeline_amount", "商机总额", "Pipeline amount"),
    ("pipeline_commit", "承诺（谈判中）", "Commit (negotiation)"),
    (
        "pipeline_best_case",
        "乐观（已报价）",
        "Best case (proposal)",
    ),
    ("pipeline_closed_won", "已赢单", "Closed won"),
    ("pipeline_deals", "商机数", "Deals"),
    (
        "pipeline_forecast_note",
        "加权金额 = 金额 × 赢单概率，按币种分别汇总；输单不计入。",
        "Weighted = amount × probability, summed per currency; lost deals are left out.",
    ),
    (
        "pipeline_full",
        "只显示了前 {n} 个商机；请按销售员或关键词筛选。",
        "Only the first {n} deals are shown; filter by salesperson or search.",
    ),
    (
        "pipeline_drag_hint",
        "把卡片拖到另一列即可变更阶段；在手机上请用卡片下方的选择框。",
        "Drag a card to another column to change its stage; on a phone, use the card's stage list.",
    ),
    ("stage_qualification", "初步接洽", "Qualification"),
    ("stage_needs_analysis", "需求分析", "Needs analysis"),
    ("stage_proposal", "方案报价", "Proposal"),
    ("stage_negotiation", "商务谈判", "Negotiation"),
    ("stage_won", "赢单", "Won"),
    ("stage_lost", "输单", "Lost"),
    ("pipeline_close_date", "预计成交日期", "Expected close date"),
    ("pipeline_move_to", "移到阶段", "Move to stage"),
    ("pipeline_empty", "暂无", "None"),
    (
        "pipeline_lost_reason",
        "“{title}”为什么输单？（必填）",
        "Why was “{title}” lost? (required)",
    ),
    (
        "pipeline_confirm_reopen",
        "“{title}”已结束，确定重新打开吗？",
        "“{title}” is closed. Reopen it?",
    ),
    (
        "pipeline_conflict",
        "有人刚刚改动了这个商机，页面已刷新：{message}",
        "Someone changed this deal meanwhile; the page shows it now: {message}",
    ),
    // The CRM's pages (issue 16).
    ("nav_crm_customers", "客户", "Customers"),
    ("nav_crm_tasks", "待办", "Tasks"),
    ("crm_customers_title", "客户", "Customers"),
    (
        "crm_customers_total",
        "全部 {n} 个客户",
        "All {n} customers",
    ),
    ("crm_new_customer", "新建客户", "New customer"),
    ("crm_import_title", "导入名片", "Import business cards"),
    (
        "crm_duplicates_waiting_n",
        "{n} 张名片疑似重复，等待处理",
        "{n} business cards look like duplicates and wait for you",
    ),
    ("crm_search", "搜索", "Search"),
    (
        "crm_search_hint",
        "名称、编码、税号、地区、行业或标签",
        "Name, code, tax id, region, industry or tag",
    ),
    ("crm_tag", "标签", "Tag"),
    ("crm_tags", "标签", "Tags"),
    ("crm_tags_hint", "用逗号分隔", "separated by commas"),
    ("crm_code", "编码", "Code"),
    ("crm_code_hint", "留空自动生成", "blank: generated"),
    ("crm_name", "名称", "Name"),
    ("crm_name_zh", "中文名称", "Chinese name"),
    ("crm_name_en", "英文名称", "English name"),
    ("crm_industry", "行业", "Industry"),
    ("crm_region", "地区", "Region"),
    ("crm_contacts", "联系人", "Contacts"),
    ("crm_owner", "负责人", "Owner"),
    ("crm_updated", "更新于", "Updated"),
    (
        "crm_no_customers",
        "没有符合条件的客户。",
        "No customers match.",
    ),
    ("crm_first_page", "« 第一页", "« First page"),
    ("crm_next_page", "下一页 »", "Next page »"),
    ("crm_payment_terms", "付款条件", "Payment terms"),
    ("crm_currency", "币种", "Currency"),
    ("crm_credit_limit", "信用额度", "Credit limit"),
    ("crm_no_limit", "不限", "none"),
    ("crm_tax_id", "税号", "Tax id"),
    ("crm_group", "客户组", "Customer group"),
    ("crm_create", "创建", "Create"),
    ("crm_edit", "编辑", "Edit"),
    ("crm_save", "保存", "Save"),
    ("crm_cancel", "取消", "Cancel"),
    ("crm_customer", "客户", "Customer"),
    ("crm_title", "职务", "Title"),
    ("crm_phones", "电话", "Phones"),
    ("crm_emails", "电子邮件", "E-mail"),
    ("crm_handles", "社交账号", "Handles"),
    (
        "crm_no_contacts",
        "还没有联系人。导入名片或通过 API 添加。",
        "No contacts yet. Import business cards, or add them through the API.",
    ),
    ("crm_phone_mobile", "手机", "mobile"),
    ("crm_phone_work", "办公", "work"),
    ("crm_phone_home", "住宅", "home"),
    ("crm_phone_fax", "传真", "fax"),
    ("crm_phone_other", "其他", "other"),
    ("crm_source", "来源", "Source"),
    ("crm_source_vcard", "vCard 名片", "vCard"),
    ("crm_source_csv", "CSV 导入", "CSV import"),
    ("crm_source_manual", "手工录入", "entered by hand"),
    ("crm_download_vcard", "下载 vCard", "Download vCard"),
    (
        "crm_merge_title",
        "合并到另一个联系人",
        "Merge into another contact",
    ),
    (
        "crm_merge_note",
        "此联系人的电话、邮箱、社交账号、标签和活动将并入所选联系人，然后删除此联系人。",
        "This contact's phones, e-mail addresses, handles, tags and activities go to the chosen contact; then this one is deleted.",
    ),
    (
        "crm_merge_into",
        "同一客户的联系人",
        "A contact of the same customer",
    ),
    ("crm_merge_into_id", "或联系人编号", "or a contact's number"),
    ("crm_merge", "合并", "Merge"),
    (
        "crm_merge_choose",
        "请选择要合并到的联系人",
        "Choose the contact to merge into",
    ),
    (
        "crm_confirm_merge",
        "将 {name} 合并到联系人 #{into} 并删除 {name}？",
        "Merge {name} into contact #{into} and delete {name}?",
    ),
    ("crm_activities", "活动", "Activities"),
    ("crm_log_activity", "记录活动", "Log an activity"),
    ("crm_kind", "类型", "Kind"),
    ("crm_kind_call", "电话", "Call"),
    ("crm_kind_visit", "拜访", "Visit"),
    ("crm_kind_email", "邮件", "E-mail"),
    ("crm_kind_note", "备注", "Note"),
    ("crm_kind_task", "待办", "Task"),
    ("crm_subject", "主题", "Subject"),
    ("crm_with_contact", "联系人", "With"),
    ("crm_nobody", "（不指定）", "(nobody in particular)"),
    ("crm_when", "时间（留空为现在）", "When (blank: now)"),
    ("crm_body", "内容", "Details"),
    ("crm_log", "记录", "Log it"),
    ("crm_add_task", "添加跟进待办", "Add a follow-up task"),
    ("crm_due", "截止日期", "Due"),
    ("crm_due_on", "截止 {date}", "due {date}"),
    ("crm_done_at", "已于 {time} 完成", "done {time}"),
    ("crm_mark_done", "完成", "Done"),
    (
        "crm_no_activities",
        "还没有活动记录。",
        "No activities yet.",
    ),
    ("crm_tasks_title", "我的待办", "My tasks"),
    ("crm_tasks_team_title", "团队的待办", "My team's tasks"),
    ("crm_tasks_mine", "我的", "Mine"),
    ("crm_tasks_team", "团队的", "My team's"),
    (
        "crm_tasks_summary",
        "{n} 项未完成，其中 {overdue} 项已逾期",
        "{n} open, {overdue} overdue",
    ),
    ("crm_overdue", "逾期", "overdue"),
    ("crm_no_tasks", "没有未完成的待办。", "No open tasks."),
    (
        "crm_import_note",
        "上传 .vcf 名片文件（vCard 2.1、3.0、4.0，一张或多张）或 CSV（列：name、company、title、email、phone、mobile、wechat、qq、tags、note……）。全部导入或全部不导入；与已有联系人电话或邮箱相同的名片将在下方等待处理。",
        "Upload a .vcf file of business cards (vCard 2.1, 3.0 or 4.0, one card or many) or a CSV (columns name, company, title, email, phone, mobile, wechat, qq, tags, note, …). All or nothing; a card sharing a phone or e-mail address with a contact waits below for you.",
    ),
    (
        "crm_import_file",
        "文件（.vcf 或 .csv）",
        "File (.vcf or .csv)",
    ),
    ("crm_import_charset", "字符集", "Charset"),
    ("crm_import_button", "导入", "Import"),
    ("crm_import_done", "已导入 {file}", "{file} imported"),
    ("crm_import_cards", "名片", "Cards"),
    ("crm_import_contacts", "新联系人", "Contacts created"),
    ("crm_import_customers", "新客户", "Customers created"),
    ("crm_import_joined", "并入已有客户", "Joined customers"),
    ("crm_import_duplicates", "疑似重复", "Duplicates waiting"),
    ("crm_import_new_customers", "新客户：", "New customers:"),
    (
        "crm_import_joined_customers",
        "并入已有客户：",
        "Joined existing customers:",
    ),
    (
        "crm_import_duplicates_below",
        "{n} 张名片疑似重复，见下方。",
        "{n} cards look like duplicates: see below.",
    ),
    (
        "crm_import_failed",
        "未导入任何名片",
        "Nothing was imported",
    ),
    (
        "crm_import_mistakes",
        "文件中有 {n} 处错误（见下表），全部名片均未导入；改正后请重新导入。",
        "The file has {n} mistakes (listed below), so no card was imported; correct them and import it again.",
    ),
    ("crm_error_where", "位置", "Where"),
    ("crm_error_property", "属性 / 列", "Property / column"),
    ("crm_error_message", "问题", "Problem"),
    ("crm_error_line", "第 {line} 行", "line {line}"),
    (
        "crm_error_card_line",
        "第 {card} 张名片，第 {line} 行",
        "card {card}, line {line}",
    ),
    (
        "crm_duplicates_title",
        "等待处理的重复名片",
        "Duplicates waiting",
    ),
    (
        "crm_duplicates_note",
        "这些名片与已有联系人的电话或邮箱相同：合并到该联系人、作为新联系人保留，或丢弃。",
        "These cards share a phone or e-mail address with a contact: merge them into it, keep them as a contact of their own, or discard them.",
    ),
    (
        "crm_no_duplicates",
        "没有等待处理的重复名片。",
        "No duplicates wait.",
    ),
    ("crm_matches", "相同于", "Matches"),
    ("crm_on_email", "邮箱", "e-mail"),
    ("crm_on_phone", "电话", "phone"),
    ("crm_merge_into_name", "合并到 {name}", "Merge into {name}"),
    ("crm_keep", "另存为新联系人", "Keep as a new contact"),
    ("crm_discard", "丢弃", "Discard"),
    (
        "crm_confirm_discard",
        "丢弃这张名片？",
        "Discard this card?",
    ),
    ("crm_not_found_title", "未找到", "Not found"),
    (
        "crm_not_found_text",
        "没有这条记录，或者它不属于你和你的团队。",
        "There is no such record, or it is not yours or your team's.",
    ),
    (
        "crm_problem_title",
        "无法显示此页面",
        "This page cannot be shown",
    ),
    ("crm_problem_text", "{message}", "{message}"),
    (
        "crm_back_to_customers",
        "返回客户列表",
        "Back to the customers",
    ),
];

/// The text of `key` in `language`; the key itself if the catalogue lacks it (a test makes
/// sure no template or script asks for a missing one).
pub fn text(language: Language, key: &str) -> &'static str {
    match MESSAGES.iter().find(|(k, _, _)| *k == key) {
        Some((_, zh, en)) => match language {
            Language::Zh => zh,
            Language::En => en,
        },
        None => {
            tracing::warn!(key, "message missing from the catalogue");
            "?"
        }
    }
}

/// A role's name for people.
pub fn role(language: Language, role: Role) -> &'static str {
    let (zh, en) = match role {
        Role::Administrator => ("管理员", "Administrator"),
        Role::PlantManager => ("厂长", "Plant manager"),
        Role::Supervisor => ("班组长", "Supervisor"),
        Role::Planner => ("计划员", "Planner"),
        Role::Quality => ("质检", "Quality"),
        Role::Warehouse => ("仓库", "Warehouse"),
        Role::Sales => ("销售", "Sales"),
        Role::SalesManager => ("销售经理", "Sales manager"),
        Role::Approver => ("审批人", "Approver"),
        Role::Viewer => ("总部查看者", "Viewer (head office)"),
        Role::Kiosk => ("车间看板终端", "Kiosk (shop-floor TV)"),
        Role::Edge => ("边缘网关", "Edge gateway"),
    };
    pick(language, zh, en)
}

/// What a permission allows, for people.
pub fn permission(language: Language, permission: Permission) -> &'static str {
    use Permission::*;
    let zh = match permission {
        EdgeSync => "作为边缘网关发送事件、获取计划、报告状态（仅限边缘凭据）",
        EdgesRead => "查看边缘网关、其健康状况、工位、事件和隔离区",
        EdgesManage => "创建边缘网关、轮换和吊销其令牌、发布原始计划",
        MasterDataRead => "查看物料、BOM、工艺路线、供应商、仓库、产线、工作中心、日历",
        MasterDataWrite => "修改并导入物料、BOM、工艺路线、供应商、仓库、产线、工作中心、日历",
        WorkOrdersRead => "查看工单、进度和批次冻结",
        WorkOrdersWrite => "创建工单，修改数量、优先级和交期",
        WorkOrdersRelease => "下达、暂停、恢复工单（发送到产线）",
        WorkOrdersClose => "取消和关闭工单",
        LotsHold => "冻结、放行批次，设置有效期",
        InventoryRead => "查看库存、台账和追溯",
        InventoryWrite => "导入盘点和收货",
        InventoryReverse => "冲销台账记录",
        MrpRead => "查看 MRP 运算及其请购",
        MrpRun => "运行 MRP、导入需求",
        MrpFirm => "将计划订单确认为工单",
        OperatorsRead => "查看操作员名册",
        OperatorsManage => "修改操作员名册（工牌、技能、PIN）",
        PlantsRead => "查看工厂及其现场规则",
        PlantsManage => "创建工厂、修改其规则",
        FloorRead => "查看车间看板、OEE、停机、班次和停机原因、SPC 控制图和报警",
        FloorManage => "修改工厂的班次日历、停机原因和 SPC 特性；确认 SPC 报警；从事件重建车间数据",
        UsersRead => "查看用户、其角色和工厂",
        UsersManage => "创建、修改、停用用户，重置密码，导入用户",
        AuditRead => "查看和导出审计记录",
        KiosksManage => {
            "创建、查看和吊销看板终端链接：车间电视打开链接即显示本厂安灯看板，无需输入密码"
        }
        CrmRead => {
            "查看客户、联系人、活动、商机、报价单和销售订单：自己的，经理还可看其团队的；查看价格表"
        }
        CrmAllRead => "查看所有销售人员的客户、联系人、商机、报价单和销售订单（总部、计划）",
        CrmWrite => "创建和修改自己或团队的客户、联系人、活动、商机、报价单和销售订单；导入名片",
        PricesManage => "修改价格表、汇率和税率",
    };
    pick(language, zh, permission.describe())
}

fn pick(language: Language, zh: &'static str, en: &'static str) -> &'static str {
    match language {
        Language::Zh => zh,
        Language::En => en,
    }
}

/// The page language's table as a JSON object, for the scripts.
pub fn table_json(language: Language) -> String {
    let map: serde_json::Map<String, serde_json::Value> = MESSAGES
        .iter()
        .map(|(k, zh, en)| ((*k).to_owned(), pick(language, zh, en).into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_key_has_both_languages_once() {
        let mut seen = HashSet::new();
        for (key, zh, en) in MESSAGES {
            assert!(seen.insert(key), "{key} twice");
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{key}");
            // Placeholders match between the two.
            let holes = |s: &str| -> Vec<String> {
                s.split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(h, _)| h.to_owned()))
                    .collect()
            };
            assert_eq!(holes(zh), holes(en), "{key}: placeholders differ");
        }
        for r in Role::ALL {
            assert_ne!(role(Language::Zh, *r), role(Language::En, *r));
        }
        for p in Permission::ALL {
            assert!(!permission(Language::Zh, *p).is_empty());
        }
    }

    /// Every `t.t("key")` in the templates and every `t('key')` in the script is in the
    /// catalogue.
    #[test]
    fn every_key_used_is_in_the_catalogue() {
        let keys: HashSet<&str> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut sources: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("templates")
            .flatten()
            .map(|e| {
                (
                    e.path().display().to_string(),
                    std::fs::read_to_string(e.path()).expect("a template"),
                )
            })
            .collect();
        sources.push(("app.js".into(), super::super::APP_JS.to_owned()));
        let mut used = 0;
        for (name, text) in &sources {
            for opener in ["t.t(\"", "t.fill(\"", "t('"] {
                for (at, _) in text.match_indices(opener) {
                    // `t('` alone, not the end of `split('`.
                    if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let key = text[at + opener.len()..]
                        .split(['"', '\''])
                        .next()
                        .expect("split yields one part");
                    assert!(
                        keys.contains(key),
                        "{name}: {key:?} is not in the catalogue"
                    );
                    used += 1;
                }
            }
        }
        assert!(used > 50, "the keys were found ({used})");
    }
}
