/**
 * ESPHome's MQTT state topics: `<prefix>/<component>/<object_id>/state` with a scalar
 * payload. The component (the topic level before the object id) fixes the type:
 * `sensor` → float ("21.5"; `nan`, which ESPHome sends while a sensor has no value, is
 * `invalid_number`), `binary_sensor` and `switch` → boolean (`ON`/`OFF`), `text_sensor` →
 * string. The field is named by the `{field}` capture (else the object id); the record is
 * tagged `component`.
 */
import { z } from 'zod';
import { profileError, type FormatResult, type RawValue } from '../types.js';
import { defineDecoder } from './decoder.js';
import { clip, decimalNumber, isProfileError, payloadText } from './text.js';

export const esphome = defineDecoder({
  name: 'esphome',
  description: 'ESPHome <prefix>/<component>/<name>/state scalars: sensor → float, binary_sensor/switch → boolean, text_sensor → string',
  transport: 'mqtt',
  tags: ['component'],
  params: z.strictObject({}).prefault({}),
  create:
    () =>
    (input): FormatResult => {
      const levels = input.topic.split('/');
      const component = levels[levels.length - 3] ?? '';
      const field = input.captures.field ?? levels[levels.length - 2] ?? '';
      if (field === '') return profileError('no_fields', 'no field name in the topic');
      const text = payloadText(input.payload);
      if (isProfileError(text)) return text;
      const s = text.trim();
      let v: RawValue;
      switch (component) {
        case 'sensor': {
          const n = decimalNumber(s);
          if (n === undefined)
            return profileError(
              'invalid_number',
              `sensor "${clip(field)}": "${clip(s)}" is not a number${/^-?nan$/i.test(s) ? ' (the sensor has no value yet)' : ''}`,
            );
          v = n;
          break;
        }
        case 'binary_sensor':
        case 'switch':
          if (s !== 'ON' && s !== 'OFF') return profileError('wrong_type', `${component} "${clip(field)}": "${clip(s)}" is neither ON nor OFF`);
          v = s === 'ON';
          break;
        case 'text_sensor':
          v = text;
          break;
        default:
          return profileError('no_rule', `ESPHome component "${clip(component)}" is not decoded (sensor, binary_sensor, switch, text_sensor)`);
      }
      return [{ values: { [field]: v }, tags: { component } }];
    },
});
