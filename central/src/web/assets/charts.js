// Central's charts, drawn by the vendored uPlot (/assets/uplot.js) from the figures the page
// was rendered with: each <div class="chart" data-chart="ID"> takes its data from the JSON in
// <script type="application/json" id="ID"> (no inline scripts: the content security policy
// allows none). The same figures are in the page's tables and its API, which tests compare.
// A live page (app.js) calls window.mesCharts.draw(part) after it swaps a part in.
//
// Data: {kind: "lines", x_label, labels: [...], percent: true, series: [{label, values}],
// targets: [{label, value, of}]} or {kind: "pareto", x_label, labels: [...], bar_label,
// values: [...], cumulative: [0..1], cumulative_label} or {kind: "spc", title, x_label,
// value_label, rule_label, n: [...], values: [...], rules: ["", "1,3", ...] or null (a chart
// checked against no rule), levels: [{key, label, value}]}. A value is a fraction when `percent` (drawn as %), null where there is none;
// a target's `of` is the index of its series; an SPC point with rules is drawn in red with
// their numbers, and its levels (control and specification limits, target) as lines.
// window.mesCharts.charts holds each drawn chart (uPlot) by its element's id.
'use strict';

(function () {
  if (typeof uPlot === 'undefined') return;
  const palette = ['#1f5fae', '#2e8b57', '#d2691e', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d'];
  const HEIGHT = 260;

  function categoryAxis(labels) {
    // Room for the longest label (about 7 px a character at the axis' 12 px font).
    const longest = labels.reduce((n, l) => Math.max(n, String(l).length), 0);
    return {
      // Every label when they fit, else every 2nd, 5th, ... (uPlot picks the step).
      incrs: [1, 2, 5, 10, 20, 50, 100],
      space: Math.max(40, longest * 7 + 16),
      values: (u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] !== undefined ? labels[i] : '')),
      rotate: 0,
    };
  }

  function percent(values) {
    return values.map((v) => (v === null || v === undefined ? null : Math.round(v * 10000) / 100));
  }

  /** The x series: its legend shows the bucket's label. */
  function categories(data) {
    return {
      label: data.x_label || '',
      value: (u, i) => (i === null || i === undefined ? '–' : data.labels[i] || '–'),
    };
  }

  /**
   * Targets as dashed lines across the whole plot with their label at the right (a series
   * would draw nothing with one bucket), in the colour of the figure they are for.
   */
  function targetLines(targets, percentScale) {
    return (u) => {
      const ctx = u.ctx;
      const pxRatio = window.devicePixelRatio || 1;
      ctx.save();
      ctx.setLineDash([6 * pxRatio, 4 * pxRatio]);
      ctx.lineWidth = 1.5 * pxRatio;
      ctx.font = 12 * pxRatio + 'px sans-serif';
      ctx.textAlign = 'right';
      targets.forEach((target) => {
        const value = percentScale ? target.value * 100 : target.value;
        const y = u.valToPos(value, 'y', true);
        const left = u.bbox.left;
        const right = u.bbox.left + u.bbox.width;
        ctx.strokeStyle = target.color;
        ctx.fillStyle = target.color;
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(right, y);
        ctx.stroke();
        ctx.fillText(target.label + ' ' + (percentScale ? value.toFixed(1) + '%' : value), right - 4 * pxRatio, y - 4 * pxRatio);
      });
      ctx.restore();
    };
  }

  function lines(data, width) {
    const n = data.labels.length;
    const xs = data.labels.map((_, i) => i);
    const series = [categories(data)];
    const columns = [xs];
    const scale = data.percent ? percent : (v) => v;
    data.series.forEach((s, i) => {
      series.push({
        label: s.label,
        stroke: palette[i % palette.length],
        width: i === 0 ? 3 : 1.5,
        points: { show: n <= 62, size: i === 0 ? 6 : 4 },
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? '–' : data.percent ? v.toFixed(1) + '%' : String(v)),
      });
      columns.push(scale(s.values));
    });
    // A target is drawn in its figure's colour (`of`: the index of the series it is for).
    const targets = (data.targets || []).map((target) => ({
      label: target.label,
      value: target.value,
      color: palette[(target.of || 0) % palette.length],
    }));
    return [
      {
        width,
        height: HEIGHT,
        scales: {
          x: { time: false, range: [-0.5, Math.max(n - 0.5, 0.5)] },
          // 0-100 %, higher when a figure is (effectiveness above 100 % says the ideal
          // cycle time is too slow).
          y: data.percent ? { range: (u, min, max) => [0, Math.max(100, Math.ceil(max / 10) * 10)] } : {},
        },
        axes: [
          categoryAxis(data.labels),
          { values: (u, splits) => splits.map((v) => (data.percent ? v + '%' : String(v))), size: 56 },
        ],
        series,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        hooks: { draw: [targetLines(targets, data.percent)] },
      },
      columns,
    ];
  }

  function pareto(data, width) {
    const n = data.labels.length;
    const xs = data.labels.map((_, i) => i);
    return [
      {
        width,
        height: HEIGHT,
        scales: {
          x: { time: false, range: [-0.5, Math.max(n - 0.5, 0.5)] },
          v: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] },
          c: { range: [0, 100] },
        },
        axes: [
          categoryAxis(data.labels),
          { scale: 'v', size: 56 },
          { scale: 'c', side: 1, grid: { show: false }, values: (u, splits) => splits.map((v) => v + '%'), size: 56 },
        ],
        series: [
          categories(data),
          {
            label: data.bar_label,
            scale: 'v',
            stroke: palette[0],
            fill: 'rgba(31, 95, 174, 0.55)',
            paths: uPlot.paths.bars({ size: [0.6, 80] }),
            points: { show: false },
          },
          {
            label: data.cumulative_label,
            scale: 'c',
            stroke: palette[4],
            width: 2,
            points: { show: true, size: 5 },
            value: (u, v) => (v === null || v === undefined ? '–' : v.toFixed(1) + '%'),
          },
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      },
      [xs, data.values, percent(data.cumulative)],
    ];
  }

  // An SPC chart's lines, in the colours of the list of levels beneath it (app.css).
  const levelStyle = {
    center: { color: '#12b76a', dash: [] },
    ucl: { color: '#667085', dash: [6, 4] },
    lcl: { color: '#667085', dash: [6, 4] },
    usl: { color: '#f79009', dash: [2, 3] },
    lsl: { color: '#f79009', dash: [2, 3] },
    target: { color: '#7a5af8', dash: [8, 3, 2, 3] },
  };
  const POINT = '#2e90fa';
  const BAD = '#d92d20';

  function fixed(v) {
    return v === null || v === undefined ? '–' : v.toFixed(4);
  }

  const LABEL_FONT = 12;

  // Below this width (a handheld) a level's label is its name alone: its value is in the
  // list beneath the chart, and the plot keeps its room.
  const NARROW = 520;

  function levelLabel(level, narrow) {
    return narrow ? level.label : level.label + ' ' + fixed(level.value);
  }

  /**
   * The room at the right of the plot for the labels of `levels` (every SPC chart's on the
   * page, so an X-bar and its R chart line up), in CSS pixels.
   */
  function labelRoom(levels, narrow) {
    if (levels.length === 0) return 8;
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = LABEL_FONT + 'px sans-serif';
    return Math.ceil(Math.max(...levels.map((l) => ctx.measureText(levelLabel(l, narrow)).width))) + 12;
  }

  /** The levels as lines across the plot, under the points. */
  function spcLevels(data) {
    return (u) => {
      const ctx = u.ctx;
      const pxRatio = window.devicePixelRatio || 1;
      ctx.save();
      data.levels.forEach((level) => {
        const style = levelStyle[level.key] || levelStyle.ucl;
        const y = Math.round(u.valToPos(level.value, 'y', true));
        ctx.setLineDash(style.dash.map((d) => d * pxRatio));
        ctx.lineWidth = (level.key === 'center' ? 1.5 : 1.2) * pxRatio;
        ctx.strokeStyle = style.color;
        ctx.beginPath();
        ctx.moveTo(u.bbox.left, y);
        ctx.lineTo(u.bbox.left + u.bbox.width, y);
        ctx.stroke();
      });
      ctx.restore();
    };
  }

  /**
   * Each level's label with its value at the right of the plot (moved apart where levels are
   * close), and each broken rule's number above its red point.
   */
  function spcLabels(data) {
    return (u) => {
      const ctx = u.ctx;
      const pxRatio = window.devicePixelRatio || 1;
      const halo = (text, x, y) => {
        ctx.strokeText(text, x, y);
        ctx.fillText(text, x, y);
      };
      ctx.save();
      ctx.font = LABEL_FONT * pxRatio + 'px sans-serif';
      ctx.lineJoin = 'round';
      ctx.lineWidth = 3 * pxRatio;
      ctx.strokeStyle = '#fff';
      ctx.textAlign = 'left';
      ctx.textBaseline = 'middle';
      const gap = (LABEL_FONT + 2) * pxRatio;
      const labels = data.levels
        .map((level) => ({
          y: u.valToPos(level.value, 'y', true),
          color: (levelStyle[level.key] || levelStyle.ucl).color,
          text: levelLabel(level, u.width < NARROW),
        }))
        .sort((a, b) => a.y - b.y);
      let last = -Infinity;
      labels.forEach((label) => {
        const y = Math.max(label.y, last + gap);
        last = y;
        ctx.fillStyle = label.color;
        halo(label.text, u.bbox.left + u.bbox.width + 6 * pxRatio, y);
      });
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      ctx.font = 'bold ' + LABEL_FONT * pxRatio + 'px sans-serif';
      ctx.fillStyle = BAD;
      (data.rules || []).forEach((rules, i) => {
        const v = data.values[i];
        if (!rules || v === null || v === undefined) return;
        halo(rules, u.valToPos(data.n[i], 'x', true), u.valToPos(v, 'y', true) - 7 * pxRatio);
      });
      ctx.restore();
    };
  }

  function spc(data, width, shared) {
    const room = { wide: labelRoom(shared, false), narrow: labelRoom(shared, true) };
    const n = data.n.length;
    const first = n ? data.n[0] : 0;
    const last = n ? data.n[n - 1] : 1;
    return [
      {
        width,
        height: HEIGHT,
        scales: {
          x: { time: false, range: [first - 0.5, last + 0.5] },
          // The points and every level, with a margin.
          y: {
            range: (u, min, max) => {
              const all = data.values.concat(data.levels.map((l) => l.value)).filter((v) => v !== null && isFinite(v));
              if (all.length === 0) return [0, 1];
              let lo = Math.min(...all);
              let hi = Math.max(...all);
              if (hi - lo <= 1e-12 * Math.max(Math.abs(hi), 1)) return [lo - 1, hi + 1];
              const margin = (hi - lo) * 0.08;
              return [lo - margin, hi + margin];
            },
          },
        },
        axes: [
          {
            incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
            space: 28,
            values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')),
          },
          { values: (u, splits) => splits.map((v) => String(Number(v.toPrecision(6)))), size: 64 },
        ],
        series: [
          { label: data.x_label, value: (u, v) => (v === null || v === undefined ? '–' : '#' + v) },
          {
            label: data.value_label,
            stroke: POINT,
            width: 1.5,
            spanGaps: false,
            points: { show: true, size: 6, fill: POINT },
            value: (u, v) => fixed(v),
          },
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        padding: [null, (u) => ((u.width || width) < NARROW ? room.narrow : room.wide), null, null],
        hooks: { drawClear: [spcLevels(data)], draw: [spcLabels(data)] },
      },
      [data.n, data.values],
    ];
  }

  /** A point that breaks a rule is drawn again in red: a series of its own, in the legend. */
  function spcRules(data, width, shared) {
    const [options, columns] = spc(data, width, shared);
    if (!data.rules) return [options, columns];
    options.series.push({
      label: data.rule_label,
      stroke: BAD,
      width: 0,
      paths: () => null,
      points: { show: true, size: 10, fill: BAD, stroke: BAD },
      value: (u, v, s, i) => (i === null || i === undefined || !data.rules[i] ? '–' : data.rules[i]),
    });
    columns.push(data.values.map((v, i) => (data.rules[i] ? v : null)));
    return [options, columns];
  }

  /** Draws every chart under `root` (the document, or a live page's part swapped in). */
  function draw(root) {
    // Every SPC chart's levels, to give their labels the same room.
    const allLevels = [];
    for (const source of root.querySelectorAll('script[type="application/json"]')) {
      try {
        const data = JSON.parse(source.textContent);
        if (data.kind === 'spc') allLevels.push(...data.levels);
      } catch (e) {
        // Said where the chart is drawn.
      }
    }
    for (const element of root.querySelectorAll('div.chart[data-chart]')) {
      if (element.dataset.drawn === 'true') continue;
      const source = document.getElementById(element.dataset.chart);
      if (!source) continue;
      let data;
      try {
        data = JSON.parse(source.textContent);
      } catch (e) {
        element.textContent = String(e);
        continue;
      }
      const count = data.kind === 'spc' ? (data.n || []).length : (data.labels || []).length;
      if (count === 0) continue;
      const width = Math.max(element.clientWidth, 240);
      const build = { pareto, spc: spcRules }[data.kind] || lines;
      const [options, columns] = build(data, width, allLevels);
      const chart = new uPlot(options, columns, element);
      charts[element.id] = chart;
      // A Pareto bar leads where its table row's key does: the facts it sums.
      if (data.kind === 'pareto' && Array.isArray(data.links)) {
        chart.over.addEventListener('click', () => {
          const href = data.links[chart.cursor.idx];
          if (typeof href === 'string') window.location.href = href;
        });
        chart.over.style.cursor = 'pointer';
      }
      element.dataset.drawn = 'true';
      element.dataset.points = String(count);
      if (typeof ResizeObserver !== 'undefined') {
        let last = width;
        new ResizeObserver(() => {
          const now = Math.max(element.clientWidth, 240);
          if (now !== last) {
            last = now;
            chart.setSize({ width: now, height: HEIGHT });
          }
        }).observe(element);
      }
    }
  }

  const charts = {};
  window.mesCharts = { draw, charts };
  draw(document);
})();
