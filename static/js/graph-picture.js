/* The graph picture (templates/research/graph_picture.html): draws the snapshot embedded
 * in #graph-picture-data with Cytoscape.js (static/vendor/cytoscape/), filters it in the
 * browser, and loads a value's or an edge's details into the side panel with htmx.
 *
 * Filters: a question keeps its contexts; a context keeps itself; a group reads every
 * edge as that group voted (its share, its votes); "minimum votes" hides edges with
 * fewer decisive votes. A value shows when it is ranked in a context in view and, once
 * a group or a minimum is set, when an edge in view still touches it.
 *
 * window.graphPicture = {cy, data, redraw, shown} is there for the browser tests. */
(function () {
  "use strict";

  var COLOURS = { bridged: "#157f3b", carried: "#c2630a", unknown: "#9aa1ad" };
  var NODE = "#3f4fb5";
  var WINNER = "#d4a017";
  var MIN_SIZE = 18;
  var MAX_SIZE = 64;

  function readFilters(form) {
    var minVotes = parseInt(form.elements.min_votes.value, 10);
    return {
      question: form.elements.question.value,
      context: form.elements.context.value,
      group: form.elements.group.value,
      minVotes: isNaN(minVotes) || minVotes < 0 ? 0 : minVotes,
    };
  }

  /* What the filters leave in view: {contexts, nodes, edges}, plain data. */
  function shown(data, f) {
    var inView = {};
    var winners = {};
    data.contexts.forEach(function (c) {
      if (f.question && c.questions.indexOf(parseInt(f.question, 10)) < 0) return;
      if (f.context && c.id !== f.context) return;
      inView[c.id] = true;
      if (c.winner) winners[c.winner] = true;
    });
    var edges = [];
    var ends = {};
    data.edges.forEach(function (e) {
      if (!inView[e.context]) return;
      var share = e.share;
      var votes = e.decisive;
      if (f.group) {
        var g = e.groups[f.group];
        if (!g || !g[0]) return;
        votes = g[0];
        share = g[1];
      }
      if (votes < f.minVotes) return;
      edges.push({ edge: e, share: share, votes: votes });
      ends[e.source] = true;
      ends[e.target] = true;
    });
    var narrowed = Boolean(f.group) || f.minVotes > 0;
    var nodes = [];
    data.values.forEach(function (v) {
      var strength = null;
      Object.keys(v.strength).forEach(function (c) {
        if (inView[c]) strength = Math.max(strength === null ? 0 : strength, v.strength[c]);
      });
      if (strength === null || (narrowed && !ends[v.id])) return;
      nodes.push({ value: v, strength: strength, winner: Boolean(winners[v.id]) });
    });
    return { contexts: Object.keys(inView), nodes: nodes, edges: edges };
  }

  function elements(view) {
    var top = 0;
    view.nodes.forEach(function (n) { top = Math.max(top, n.strength); });
    var count = view.nodes.length;
    // Start on a circle, in the data's order, so that the same filters lay out the same.
    var radius = 60 + 18 * count;
    var out = view.nodes.map(function (n, i) {
      var angle = (2 * Math.PI * i) / Math.max(count, 1);
      var size = top > 0 ? MIN_SIZE + (MAX_SIZE - MIN_SIZE) * Math.sqrt(n.strength / top) : MIN_SIZE;
      return {
        group: "nodes",
        data: { id: n.value.id, label: n.value.title, size: size, winner: n.winner ? 1 : 0 },
        position: { x: radius * Math.cos(angle), y: radius * Math.sin(angle) },
      };
    });
    view.edges.forEach(function (x) {
      out.push({
        group: "edges",
        data: {
          id: x.edge.id,
          source: x.edge.source,
          target: x.edge.target,
          width: 1.5 + 6 * (x.share || 0),
          colour: COLOURS[x.edge.bridging] || COLOURS.unknown,
        },
      });
    });
    return out;
  }

  var STYLE = [
    {
      selector: "node",
      style: {
        "background-color": NODE,
        "background-opacity": 0.85,
        width: "data(size)",
        height: "data(size)",
        label: "data(label)",
        color: "#1d2129",
        "font-size": 12,
        "text-valign": "bottom",
        "text-margin-y": 4,
        "text-wrap": "wrap",
        "text-max-width": 120,
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.8,
        "text-background-padding": 2,
        "min-zoomed-font-size": 6,
      },
    },
    { selector: "node[winner = 1]", style: { "border-width": 4, "border-color": WINNER } },
    {
      selector: "edge",
      style: {
        width: "data(width)",
        "line-color": "data(colour)",
        "target-arrow-color": "data(colour)",
        "target-arrow-shape": "triangle",
        "arrow-scale": 0.9,
        "curve-style": "bezier",
        opacity: 0.8,
      },
    },
    { selector: ":selected", style: { "overlay-color": NODE, "overlay-opacity": 0.18 } },
    { selector: ".faded", style: { opacity: 0.15, "text-opacity": 0.3 } },
  ];

  function setUp() {
    var container = document.getElementById("graph-picture");
    var script = document.getElementById("graph-picture-data");
    var form = document.getElementById("picture-filters");
    if (!container || !script || !form || typeof window.cytoscape !== "function") return;
    var data = JSON.parse(script.textContent);
    var panelUrl = document.getElementById("picture-urls").dataset.panel;
    var count = document.getElementById("picture-count");
    var contextSelect = form.elements.context;
    var allContexts = Array.prototype.slice.call(contextSelect.options, 1);
    form.hidden = false;
    // A phone's canvas zooms the graph out to fit: larger type keeps the titles legible.
    var fontSize = container.clientWidth < 600 ? 20 : 12;

    var cy = window.cytoscape({
      container: container,
      style: STYLE.concat([{ selector: "node", style: { "font-size": fontSize } }]),
      wheelSensitivity: 0.3,
      minZoom: 0.2,
      maxZoom: 3,
    });

    function narrowContexts() {
      // The context list follows the question: only that question's contexts.
      var question = parseInt(form.elements.question.value, 10);
      var keep = {};
      data.contexts.forEach(function (c) {
        if (isNaN(question) || c.questions.indexOf(question) >= 0) keep[c.id] = true;
      });
      allContexts.forEach(function (option) {
        option.hidden = option.disabled = !keep[option.value];
      });
      if (contextSelect.value && !keep[contextSelect.value]) contextSelect.value = "";
    }

    function redraw() {
      var view = shown(data, readFilters(form));
      cy.elements().remove();
      cy.add(elements(view));
      container.removeAttribute("data-ready");
      var layout = cy.layout({
        name: "cose",
        animate: false,
        randomize: false,
        fit: true,
        padding: 30,
        nodeRepulsion: function () { return 9000; },
        idealEdgeLength: function () { return 90; },
        numIter: 1500,
      });
      layout.one("layoutstop", function () { container.setAttribute("data-ready", "true"); });
      layout.run();
      count.textContent =
        view.nodes.length + " of " + data.values.length + " values · " +
        view.edges.length + " of " + data.edges.length + " edges shown";
      return view;
    }

    function openPanel(param, id) {
      var url = panelUrl + "&" + param + "=" + encodeURIComponent(id);
      var panel = document.getElementById("picture-panel");
      var done = function () {
        if (window.matchMedia("(max-width: 800px)").matches) {
          panel.scrollIntoView({ behavior: "smooth", block: "start" });
        }
      };
      if (window.htmx) {
        window.htmx.ajax("GET", url, { target: "#picture-detail", swap: "outerHTML" }).then(done);
      } else {
        window.location.href = url + "#picture-panel";
      }
    }

    cy.on("tap", "node", function (event) {
      var node = event.target;
      cy.elements().addClass("faded");
      node.closedNeighborhood().removeClass("faded");
      openPanel("value", node.id());
    });
    cy.on("tap", "edge", function (event) {
      var edge = event.target;
      cy.elements().addClass("faded");
      edge.union(edge.connectedNodes()).removeClass("faded");
      openPanel("edge", edge.id());
    });
    cy.on("tap", function (event) {
      if (event.target === cy) cy.elements().removeClass("faded");
    });

    form.elements.min_votes.addEventListener("input", function () { redraw(); });
    form.addEventListener("change", function (event) {
      if (event.target === form.elements.min_votes) return; // redrawn on input already
      if (event.target === form.elements.question) narrowContexts();
      redraw();
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("reset", function () {
      // The form's values change after this event: redraw once they have.
      setTimeout(function () { narrowContexts(); redraw(); }, 0);
    });

    narrowContexts();
    redraw();
    window.graphPicture = {
      cy: cy,
      data: data,
      redraw: redraw,
      shown: function () { return shown(data, readFilters(form)); },
    };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
