package dev.burrow.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import dev.burrow.core.process.ManagedProcess;

/** Streaming exec with handles over real HTTP (JSON and server-sent events) against real runc. */
class ProcessApiTest {
    static TestServer srv;
    static String vm;
    private static final Duration T = Duration.ofSeconds(60);

    @BeforeAll
    static void start() {
        srv = TestServer.start("builtin:busybox");
        vm = srv.createVm("{}");
    }

    @AfterAll
    static void stop() {
        if (srv != null) srv.closeAndDelete();
    }

    static JsonNode startProcess(String body) {
        var r = srv.post("/v1/vms/" + vm + "/processes", body);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }

    static String path(String pid) {
        return "/v1/vms/" + vm + "/processes/" + pid;
    }

    static JsonNode await(String pid) {
        var r = srv.post(path(pid) + "/wait?timeoutMs=20000", null);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }

    static JsonNode output(String pid) {
        return srv.get(path(pid) + "/output").json();
    }

    @Test
    void sseStreamsWhileRunningAndAReconnectResumesExactly() throws Exception {
        JsonNode p = startProcess("{\"command\":\"i=0; while [ $i -lt 8 ]; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.3; done\"}");
        String pid = p.get("id").asText();
        assertThat(p.get("status").asText()).isEqualTo("running");
        assertThat(srv.get("/v1/vms/" + vm + "/processes").json().get("processes"))
                .extracting(n -> n.get("id").asText()).contains(pid);

        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        String lastId;
        try (SseStream s = SseStream.open(srv, path(pid) + "/output", null)) {
            assertThat(s.status).isEqualTo(200);
            // the first events arrive while the process still runs
            SseStream.Event first = s.next(T);
            assertThat(first.event()).isIn("stdout", "stderr");
            assertThat(srv.get(path(pid)).json().get("status").asText()).isEqualTo("running");
            lastId = collect(first, out, err);
            while (!out.toString().contains("out-2")) lastId = collect(s.next(T), out, err);
        } // hang up mid-stream
        assertThat(out.toString()).doesNotContain("out-7");

        try (SseStream s = SseStream.open(srv, path(pid) + "/output", lastId)) {
            for (SseStream.Event e : s.rest(T)) {
                if (e.event().equals("exit")) {
                    assertThat(e.json().get("status").asText()).isEqualTo("exited");
                    assertThat(e.json().get("exitCode").asInt()).isZero();
                    continue;
                }
                lastId = collect(e, out, err);
            }
        }
        StringBuilder wantOut = new StringBuilder();
        StringBuilder wantErr = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            wantOut.append("out-").append(i).append('\n');
            wantErr.append("err-").append(i).append('\n');
        }
        // nothing lost, nothing twice
        assertThat(out.toString()).isEqualTo(wantOut.toString());
        assertThat(err.toString()).isEqualTo(wantErr.toString());
        assertThat(lastId).isEqualTo(wantOut.length() + "," + wantErr.length());

        // a late reader gets everything and the exit code, from JSON too
        JsonNode json = output(pid);
        assertThat(json.get("stdout").asText()).isEqualTo(wantOut.toString());
        assertThat(json.get("stderr").asText()).isEqualTo(wantErr.toString());
        assertThat(json.get("complete").asBoolean()).isTrue();
        assertThat(json.get("exitCode").asInt()).isZero();
        // resuming from a middle offset gives exactly the tail, in base64 too
        JsonNode tail = srv.get(path(pid) + "/output?since=6,12&encoding=base64").json();
        assertThat(new String(Base64.getDecoder().decode(tail.get("stdout").asText()), StandardCharsets.UTF_8))
                .isEqualTo(wantOut.substring(6));
        assertThat(new String(Base64.getDecoder().decode(tail.get("stderr").asText()), StandardCharsets.UTF_8))
                .isEqualTo(wantErr.substring(12));
        try (SseStream s = SseStream.open(srv, path(pid) + "/output?since=" + (wantOut.length() - 6) + ",0", null)) {
            List<SseStream.Event> events = s.rest(T);
            StringBuilder o = new StringBuilder();
            StringBuilder e = new StringBuilder();
            for (var ev : events) {
                if (ev.event().equals("stdout")) o.append(ev.json().get("data").asText());
                if (ev.event().equals("stderr")) e.append(ev.json().get("data").asText());
            }
            assertThat(o.toString()).isEqualTo("out-7\n");
            assertThat(e.toString()).isEqualTo(wantErr.toString());
            assertThat(events.get(events.size() - 1).event()).isEqualTo("exit");
        }
    }

    private static String collect(SseStream.Event e, StringBuilder out, StringBuilder err) {
        JsonNode d = e.json();
        StringBuilder into = e.event().equals("stdout") ? out : e.event().equals("stderr") ? err : null;
        if (into == null) throw new AssertionError("unexpected event " + e);
        assertThat(d.get("offset").asLong()).as("offset of " + e).isEqualTo(into.length());
        into.append(d.get("data").asText());
        return e.id();
    }

    @Test
    void aClientReadTimeoutNeverKillsTheProcessButItsOwnTimeoutDoes() throws Exception {
        String pid = startProcess("{\"command\":\"sleep 1.5; echo finished\"}").get("id").asText();
        // a raw client that gives up reading after 300 ms and hangs up
        try (Socket sock = new Socket("127.0.0.1", srv.server.port())) {
            OutputStream o = sock.getOutputStream();
            o.write(("GET " + path(pid) + "/output HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TestServer.KEY
                    + "\r\nAccept: text/event-stream\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            o.flush();
            sock.setSoTimeout(300);
            InputStream in = sock.getInputStream();
            byte[] buf = new byte[4096];
            try {
                while (in.read(buf) > 0) { }
            } catch (SocketTimeoutException expected) {
                // the client's patience ran out
            }
        }
        JsonNode done = await(pid);
        assertThat(done.get("status").asText()).isEqualTo("exited");
        assertThat(done.get("exitCode").asInt()).isZero();
        assertThat(output(pid).get("stdout").asText()).isEqualTo("finished\n");

        JsonNode t = startProcess("{\"argv\":[\"sleep\",\"61\"],\"timeoutMs\":500}");
        assertThat(t.get("timeoutMs").asLong()).isEqualTo(500);
        JsonNode timedOut = await(t.get("id").asText());
        assertThat(timedOut.get("status").asText()).isEqualTo("timed_out");
        assertThat(timedOut.get("endedAt").isTextual()).isTrue();
        assertThat(srv.post("/v1/vms/" + vm + "/exec-await", "{\"command\":\"ps -o args | grep -c '^sleep 61' || true\"}")
                .json().get("stdout").asText().strip()).isEqualTo("0");
    }

    @Test
    void stdinRoundTripWithEof() {
        String pid = startProcess("{\"command\":\"read first; echo got:$first; cat; echo end\"}").get("id").asText();
        assertThat(srv.post(path(pid) + "/stdin", "{\"data\":\"hello\\n\"}").json().get("written").asInt()).isEqualTo(6);
        String b64 = Base64.getEncoder().encodeToString("bytes\u00e9\n".getBytes(StandardCharsets.UTF_8));
        var r = srv.post(path(pid) + "/stdin", "{\"data\":\"" + b64 + "\",\"encoding\":\"base64\",\"eof\":true}");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        JsonNode done = await(pid);
        assertThat(done.get("exitCode").asInt()).isZero();
        assertThat(output(pid).get("stdout").asText()).isEqualTo("got:hello\nbytes\u00e9\nend\n");
        // stdin of an ended process
        var late = srv.post(path(pid) + "/stdin", "{\"data\":\"x\"}");
        assertThat(late.status()).isEqualTo(409);
        assertThat(late.json().get("error").asText()).isEqualTo("PROCESS_NOT_RUNNING");
    }

    @Test
    void signalsAndWait() {
        String pid = startProcess("{\"command\":\"trap 'echo TERMED; exit 3' TERM; echo ready; while :; do sleep 0.1; done\"}")
                .get("id").asText();
        Awaitility.await().atMost(T).until(() -> output(pid).get("stdout").asText().contains("ready"));
        // a short wait answers 'running'
        assertThat(srv.post(path(pid) + "/wait?timeoutMs=100", null).json().get("status").asText()).isEqualTo("running");
        assertThat(srv.post(path(pid) + "/signal", "{\"signal\":\"TERM\"}").status()).isEqualTo(200);
        JsonNode done = await(pid);
        assertThat(done.get("status").asText()).isEqualTo("exited");
        assertThat(done.get("exitCode").asInt()).isEqualTo(3);
        assertThat(output(pid).get("stdout").asText()).isEqualTo("ready\nTERMED\n");

        String sleeper = startProcess("{\"argv\":[\"sleep\",\"60\"]}").get("id").asText();
        assertThat(srv.post(path(sleeper) + "/signal", "{\"signal\":9}").status()).isEqualTo(200);
        JsonNode killed = await(sleeper);
        assertThat(killed.get("status").asText()).isEqualTo("killed");
        assertThat(killed.get("exitCode").asInt()).isEqualTo(137);
        var again = srv.post(path(sleeper) + "/signal", "{\"signal\":\"SIGTERM\"}");
        assertThat(again.status()).isEqualTo(409);

        // DELETE kills and forgets
        String other = startProcess("{\"argv\":[\"sleep\",\"60\"]}").get("id").asText();
        var del = srv.delete(path(other));
        assertThat(del.status()).as(del.body()).isEqualTo(200);
        assertThat(del.json().get("status").asText()).isEqualTo("killed");
        assertThat(srv.get(path(other)).status()).isEqualTo(404);
    }

    @Test
    void ttyProcessesHaveATerminalThatResizes() {
        // the size is there from the command's first instruction (not applied by runc after exec)
        String pid = startProcess("{\"command\":\"stty size; while read x; do stty size; done\",\"tty\":true,"
                + "\"cols\":100,\"rows\":30}").get("id").asText();
        Awaitility.await().atMost(T).untilAsserted(() -> assertThat(srv.get(path(pid) + "/output").body()).contains("30 100"));
        assertThat(srv.post(path(pid) + "/resize", "{\"cols\":132,\"rows\":43}").status()).isEqualTo(200);
        // host pty -> SIGWINCH -> runc -> the container's terminal: ask until the new size arrived
        Awaitility.await().atMost(T).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
            srv.post(path(pid) + "/stdin", "{\"data\":\"\\n\"}");
            assertThat(output(pid).get("stdout").asText()).contains("43 132");
        });
        srv.post(path(pid) + "/stdin", "{\"data\":\"\\u0004\"}"); // ^D on a terminal: end of input
        assertThat(await(pid).get("exitCode").asInt()).isZero();
        assertThat(output(pid).get("stdout").asText()).contains("43 132");
        assertThat(output(pid).get("stderr").asText()).isEmpty();
        String plain = startProcess("{\"command\":\"true\"}").get("id").asText();
        var r = srv.post(path(plain) + "/resize", "{\"cols\":10,\"rows\":10}");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json().get("error").asText()).isEqualTo("NOT_A_TERMINAL");
    }

    @Test
    void outputBeyondTheBufferDropsTheOldestBytesAndSaysSo() throws Exception {
        int total = 3_000_000;
        String pid = startProcess("{\"command\":\"head -c " + total + " /dev/zero | tr '\\\\000' a; echo -n END\"}").get("id").asText();
        JsonNode done = await(pid);
        assertThat(done.get("exitCode").asInt()).isZero();
        long end = total + 3;
        long cap = srv.server.processes().settings().bufferBytes();
        assertThat(done.get("stdout").get("end").asLong()).isEqualTo(end);
        assertThat(done.get("stdout").get("start").asLong()).isEqualTo(end - cap);
        JsonNode out = srv.get(path(pid) + "/output?maxBytes=16").json();
        assertThat(out.get("stdoutOffset").asLong()).isEqualTo(end - cap);
        try (SseStream s = SseStream.open(srv, path(pid) + "/output", "0,0")) {
            SseStream.Event first = s.next(T);
            assertThat(first.event()).isEqualTo("dropped");
            assertThat(first.json().get("from").asLong()).isZero();
            assertThat(first.json().get("to").asLong()).isEqualTo(end - cap);
            long got = 0;
            String tail = "";
            for (var e : s.rest(T)) {
                if (e.event().equals("stdout")) {
                    String d = e.json().get("data").asText();
                    got += d.length();
                    tail = d;
                }
            }
            assertThat(got).isEqualTo(cap);
            assertThat(tail).endsWith("aaaEND");
        }
    }

    @Test
    void badInputIsA4xx() {
        String base = "/v1/vms/" + vm + "/processes";
        assertThat(srv.get(base + "/pnope").status()).isEqualTo(404);
        assertThat(srv.get(base + "/pnope").json().get("error").asText()).isEqualTo("PROCESS_NOT_FOUND");
        assertThat(srv.get(base + "/pnope/output").status()).isEqualTo(404);
        assertThat(srv.post(base + "/pnope/wait", null).status()).isEqualTo(404);
        assertThat(srv.delete(base + "/pnope").status()).isEqualTo(404);
        assertThat(srv.get("/v1/vms/aaaaaaaaaaaaaaaaaaaa/processes").status()).isEqualTo(404);
        for (String body : List.of("{", "[]", "{\"command\":5}", "{\"command\":\"x\",\"argv\":[\"y\"]}", "{}",
                "{\"argv\":[]}", "{\"command\":\"\"}", "{\"command\":\"x\",\"timeoutMs\":-1}", "{\"command\":\"x\",\"timeout\":5}",
                "{\"command\":\"x\",\"cols\":80}", "{\"command\":\"x\",\"tty\":true,\"cols\":0}",
                "{\"command\":\"x\",\"env\":{\"A=B\":\"c\"}}", "{\"command\":\"x\",\"workdir\":\"rel\"}")) {
            var r = srv.post(base, body);
            assertThat(r.status()).as(body + " -> " + r.body()).isEqualTo(400);
            assertThat(r.json().has("error")).isTrue();
        }
        assertThat(srv.call("POST", base, null).status()).isEqualTo(400);
        String pid = startProcess("{\"argv\":[\"sleep\",\"30\"]}").get("id").asText();
        for (String body : List.of("{\"signal\":\"NOPE\"}", "{\"signal\":0}", "{\"signal\":true}", "{}", "{")) {
            assertThat(srv.post(path(pid) + "/signal", body).status()).as(body).isEqualTo(400);
        }
        for (String body : List.of("{}", "{\"data\":\"***\",\"encoding\":\"base64\"}", "{\"data\":\"x\",\"encoding\":\"rot13\"}")) {
            assertThat(srv.post(path(pid) + "/stdin", body).status()).as(body).isEqualTo(400);
        }
        assertThat(srv.get(path(pid) + "/output?since=abc").status()).isEqualTo(400);
        assertThat(srv.get(path(pid) + "/output?since=1,2,3").status()).isEqualTo(400);
        assertThat(srv.get(path(pid) + "/output?encoding=hex").status()).isEqualTo(400);
        assertThat(srv.post(path(pid) + "/wait?timeoutMs=-5", null).status()).isEqualTo(400);
        assertThat(srv.delete(path(pid)).status()).isEqualTo(200);
    }

    @Test
    void stoppingOrDeletingTheVmEndsAndForgetsItsProcesses() throws Exception {
        String own = srv.createVm("{}");
        String pbase = "/v1/vms/" + own + "/processes";
        for (int i = 0; i < 3; i++) {
            assertThat(srv.post(pbase, "{\"command\":\"sleep 600\"}").status()).isEqualTo(200);
        }
        assertThat(srv.post(pbase, "{\"command\":\"sh\",\"tty\":true}").status()).isEqualTo(200);
        assertThat(srv.post("/v1/vms/" + own + "/stop", null).status()).isEqualTo(200);
        Awaitility.await().atMost(T).until(() -> srv.get(pbase).json().get("processes").isEmpty());

        assertThat(srv.post("/v1/vms/" + own + "/start", null).status()).isEqualTo(200);
        List<String> pids = new ArrayList<>();
        for (int i = 0; i < 2; i++) pids.add(srv.post(pbase, "{\"command\":\"sleep 600 & sleep 600\"}").json().get("id").asText());
        try (SseStream s = SseStream.open(srv, pbase + "/" + pids.get(0) + "/output", null)) {
            assertThat(srv.delete("/v1/vms/" + own).status()).isEqualTo(200);
            // the stream ends (no exit for a forgotten process is required, but it must not hang)
            Awaitility.await().atMost(T).until(() -> threadsOf(own).isEmpty());
            assertThat(s.rest(T)).noneMatch(e -> e.event().equals("stdout"));
        }
        assertThat(srv.server.processes().list(own)).isEmpty();
        assertThat(HostInspection.leftovers(own, srv.dataDir, srv.server.nodeId())).isEmpty();
        assertThat(srv.get(pbase).status()).isEqualTo(404);
    }

    /** Platform threads of this VM's process handles (output pumps) still alive; none may outlive the VM. */
    static List<String> threadsOf(String vmId) {
        List<String> names = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith(ManagedProcess.THREAD_PREFIX) && t.getName().contains(vmId)) names.add(t.getName());
        }
        return names;
    }
}
