// The event-stream parser, without a daemon: events however the bytes are cut.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { SseDecoder } from 'declaw'

const STREAM =
  ': keep-alive\n\n' +
  'event: start\ndata: {"pid": 12}\n\n' +
  'event: stdout\r\ndata: {"data": "h\u00e9llo\\n"}\r\n\r\n' +
  'event: lost\ndata: {"stream": "stdout", "bytes": 1048576}\n\n' +
  ': keep-alive\n' +
  'event: stderr\ndata: {"data": "\ufffd", "data_base64": "/w=="}\n\n' +
  'event: exit\ndata: {"pid": 12, "exit_code": 0}\n\n'

const EXPECTED = [
  { event: 'start', data: { pid: 12 } },
  { event: 'stdout', data: { data: 'h\u00e9llo\n' } },
  { event: 'lost', data: { stream: 'stdout', bytes: 1048576 } },
  { event: 'stderr', data: { data: '\ufffd', data_base64: '/w==' } },
  { event: 'exit', data: { pid: 12, exit_code: 0 } },
]

test('events come out whole whatever the chunk boundaries, even inside a UTF-8 character', () => {
  const bytes = Buffer.from(STREAM, 'utf8')
  for (let size = 1; size <= bytes.length; size += size < 8 ? 1 : 7) {
    const decoder = new SseDecoder()
    const events = []
    for (let i = 0; i < bytes.length; i += size) events.push(...decoder.feed(bytes.subarray(i, i + size)))
    events.push(...decoder.finish())
    assert.deepEqual(events, EXPECTED, `chunks of ${size} bytes`)
  }
})

test('comments are skipped, data lines join with newlines, and data that is not JSON is kept as text', () => {
  const decoder = new SseDecoder()
  const events = decoder.feed(Buffer.from(': x\nevent: note\ndata: one\ndata: two\n\ndata: [1]\n\n'))
  assert.deepEqual(events, [
    { event: 'note', data: { data: 'one\ntwo' } },
    { event: 'message', data: { data: [1] } },
  ])
})

test('an event without its blank line is not delivered at the end of the stream', () => {
  const decoder = new SseDecoder()
  assert.deepEqual(decoder.feed(Buffer.from('event: exit\ndata: {"exit_code": 0}')), [])
  assert.deepEqual(decoder.finish(), [])
})
