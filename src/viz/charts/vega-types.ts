// The vega-lite spec types the charts are written against. vega-lite exports
// only TopLevelSpec from its root; the parts come from its published
// `types_unstable` paths, named here once.

import type { Field, PositionFieldDef, StringFieldDef } from "vega-lite/types_unstable/channeldef.js";
import type { Encoding } from "vega-lite/types_unstable/encoding.js";
import type { LayerSpec, NonNormalizedSpec, UnitSpec } from "vega-lite/types_unstable/spec/index.js";

export type { TopLevelSpec } from "vega-lite";
/** One layer of a layered chart: a mark with its encoding, or a nested layer. */
export type Layer = LayerSpec<Field> | UnitSpec<Field>;
/** A field on the x or y axis. */
export type PositionField = PositionFieldDef<Field>;
/** A field listed in a tooltip. */
export type TooltipField = StringFieldDef<Field>;
/** The colour channel, spread into an encoding when a chart splits by colour. */
export type ColorEncoding = Pick<Encoding<Field>, "color">;
/** A view inside a concatenation. */
export type View = NonNormalizedSpec;
