// Central's charts, drawn by the vendored uPlot (/assets/uplot.js) from the figures the page
// was rendered with: each <div class="chart" data-chart="ID"> takes its data from the JSON in
// <script type="application/json" id="ID"> (no inline scripts: the content security policy
// allows none). The same figures are in the page's tables and its API, which tests compare.
// A live page (app.js) calls window.mesCharts.draw(part) after it swaps a part in.
//
// Data: {kind: "lines", x_label, labels: [...], percent: true, series: [{label, values}],
// targets: [{label, value, of}]} or {kind: "pareto", x_label, labels: [...], bar_label,
// values: [...], cumulative: [0..1], cumulative_label}. A value is a fraction when `percent`
// (drawn as %), null where there is none; a target's `of` is the index of its series.
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

  /** Draws every chart under `root` (the document, or a live page's part swapped in). */
  function draw(root) {
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
      if (!data.labels || data.labels.length === 0) continue;
      const width = Math.max(element.clientWidth, 240);
      const [options, columns] = data.kind === 'pareto' ? pareto(data, width) : lines(data, width);
      const chart = new uPlot(options, columns, element);
      // A Pareto bar leads where its table row's key does: the facts it sums.
      if (data.kind === 'pareto' && Array.isArray(data.links)) {
        chart.over.addEventListener('click', () => {
          const href = data.links[chart.cursor.idx];
          if (typeof href === 'string') window.location.href = href;
        });
        chart.over.style.cursor = 'pointer';
      }
      element.dataset.drawn = 'true';
      element.dataset.points = String(data.labels.length);
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

  window.mesCharts = { draw };
  draw(document);
})();
