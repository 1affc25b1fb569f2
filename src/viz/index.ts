// `agl.viz`: charts and tables (agl.chart, agl.charts.*, agl.table are also at the top of `agl`) and their renderers.
import * as charts from "./charts-api.js";

export { charts };
export { Chart, chart, specSummary, CHART_THEME, VEGALITE_MIME, VEGALITE_SCHEMA, type ChartOptions } from "./chart.js";
export type {
  RewardCurveOptions,
  RewardDistributionOptions,
  LatencyOptions,
  LatencyRow,
  TokensOptions,
  CompareRunsOptions,
  RewardAgreementOptions,
  Disagreement,
} from "./charts.js";
export { latencyPercentiles, AgreementChart } from "./charts.js";
export { renderSVG, svgToPNG, compileSpec, type PngOptions } from "./render.js";
export { table, TableView, isTabular, columnType, declareColumnTypes, type TableOptions, type TableColumn } from "./table.js";
